/** What the shutdown sequence does to a connector, step by step (wired in lifecycle.ts). */
export interface ShutdownSteps {
  /** Readiness false; responses start saying `Connection: close`. Everything is still served. */
  drain(): void;
  /** The ingress closes its listen sockets; idle keep-alive connections are closed. */
  stopAccepting(): void;
  /** Stolen requests still waiting for a developer go to the upstream after at most this long. */
  handBackStolen(afterMs: number): void;
  /** Resolves once no ingress connection is left. */
  settled(): Promise<void>;
  /** Cuts whatever is left (the grace period is over). */
  forceClose(): void;
  /** Tells the router this replica is leaving, then closes the router connection. */
  leave(): Promise<void>;
}

export interface ShutdownTimings {
  drainMs: number;
  graceMs: number;
}

export interface ShutdownResult {
  /** Connections were still open when the grace period ran out, and were cut. */
  forced: boolean;
  tookMs: number;
}

/** Kept at the end of the grace period for saying goodbye and exiting. */
const LEAVE_RESERVE_MS = 1_000;

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, Math.max(0, ms));
  });

/**
 * SIGTERM, as a rollout or a scale-down sends it. Kubernetes takes the pod out of the Service's
 * endpoints at the same moment, but kube-proxy, ingress controllers and load balancers learn it
 * over the next seconds and keep sending new connections meanwhile:
 *
 *   0         drainMs                     graceMs - 1 s         graceMs
 *   |--drain--|--in-flight requests finish--|--goodbye, exit 0--|  (SIGKILL after the pod's
 *   readyz 503 listen socket closed;          leftovers cut          terminationGracePeriod)
 *   all served stolen requests handed back
 *              to the upstream halfway
 *
 * Stolen requests get half of what is left after the drain, so that the upstream still has
 * the other half to answer the ones handed back.
 */
export async function runShutdown(
  steps: ShutdownSteps,
  timings: ShutdownTimings,
  log: (line: Record<string, unknown>) => void,
  now: () => number = Date.now,
): Promise<ShutdownResult> {
  const start = now();
  const { drainMs, graceMs } = timings;
  steps.drain();
  log({
    level: 'INFO',
    message: 'shutting down: not ready; still serving while the endpoints update',
    drainMs,
  });
  await sleep(drainMs);

  steps.stopAccepting();
  const left = graceMs - drainMs - LEAVE_RESERVE_MS;
  steps.handBackStolen(Math.max(0, Math.floor(left / 2)));
  log({ level: 'INFO', message: 'drained: no new connections; finishing in-flight requests' });
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), Math.max(0, start + graceMs - LEAVE_RESERVE_MS - now()));
  });
  const forced =
    (await Promise.race([steps.settled().then(() => 'settled' as const), outOfTime])) === 'timeout';
  clearTimeout(timer);
  if (forced) {
    log({ level: 'WARN', message: 'grace period over: cutting the connections still open' });
    steps.forceClose();
  }
  await Promise.race([steps.leave(), sleep(LEAVE_RESERVE_MS / 2)]);
  const tookMs = now() - start;
  log({ level: 'INFO', message: 'stopped', tookMs, forced });
  return { forced, tookMs };
}
