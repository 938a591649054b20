import { Agent, request } from 'node:http';

/**
 * The load side: one keep-alive HTTP client for both targets (the local app directly, and the
 * cluster's ingress), so the baseline and the routed path pay the same client costs.
 *
 * Besides wall time, each run records the CPU time the whole process used while its requests
 * were in flight. Everything (connector, router, dynalite, session client, app) runs in this
 * process, so that is the CPU a request costs end to end, and it moves far less than wall time
 * when other work shares the machine.
 */
export interface Target {
  name: string;
  url: string;
  headers: Record<string, string>;
  /** Who must have answered (x-served-by), so a request that fell back to the upstream is not counted as routed. */
  servedBy: string;
}

export interface Outcome {
  ms: number;
  ok: boolean;
}

export interface Samples {
  ms: number[];
  failed: number;
  /** Process CPU time (user + system) while these requests ran (NaN where not measured: interleaved pairs). */
  cpuMs: number;
  wallMs: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

export function call(t: Target): Promise<Outcome> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(t.url, { agent, headers: t.headers }, (res) => {
      res.resume();
      res.on('end', () =>
        resolve({
          ms: performance.now() - t0,
          ok: res.statusCode === 200 && res.headers['x-served-by'] === t.servedBy,
        }),
      );
      res.on('error', () => resolve({ ms: performance.now() - t0, ok: false }));
    });
    req.on('error', () => resolve({ ms: performance.now() - t0, ok: false }));
    req.end();
  });
}

const empty = (): Samples => ({ ms: [], failed: 0, cpuMs: 0, wallMs: 0 });

// No CPU reading per request: process.cpuUsage() is a system call that costs a noticeable
// fraction of a direct request here, so CPU is read around whole runs only.
async function timed(t: Target, into: Samples): Promise<void> {
  const r = await call(t);
  into.wallMs += r.ms;
  if (r.ok) into.ms.push(r.ms);
  else into.failed++;
}

/**
 * Sequential pairs, one request to each target in turn (the order alternates each pair), so a
 * change in the machine's load lands on both alike. Stops after `pairs` or `maxMs`.
 */
export async function sequentialPairs(
  a: Target,
  b: Target,
  pairs: number,
  maxMs: number,
): Promise<{ a: Samples; b: Samples; pairs: number; ms: number }> {
  const out = { a: { ...empty(), cpuMs: Number.NaN }, b: { ...empty(), cpuMs: Number.NaN } };
  const t0 = performance.now();
  let i = 0;
  for (; i < pairs && performance.now() - t0 < maxMs; i++) {
    const order = i % 2 === 0 ? (['a', 'b'] as const) : (['b', 'a'] as const);
    for (const k of order) await timed(k === 'a' ? a : b, out[k]);
  }
  return { ...out, pairs: i, ms: performance.now() - t0 };
}

/** One target, one request at a time; stops after `n` or `maxMs`. */
export async function sequential(t: Target, n: number, maxMs: number): Promise<Samples> {
  const out = empty();
  const c0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < n && performance.now() - t0 < maxMs; i++) await timed(t, out);
  out.cpuMs = cpuNow() - c0;
  return out;
}

/** `inFlight` loops against one target for `ms`. */
export async function concurrent(t: Target, inFlight: number, ms: number): Promise<Samples> {
  const out = empty();
  const c0 = cpuNow();
  const t0 = performance.now();
  const deadline = t0 + ms;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        const r = await call(t);
        if (r.ok) out.ms.push(r.ms);
        else out.failed++;
      }
    }),
  );
  out.wallMs = performance.now() - t0;
  out.cpuMs = cpuNow() - c0;
  return out;
}

export function mergeSamples(xs: Samples[]): Samples {
  return {
    ms: xs.flatMap((x) => x.ms),
    failed: xs.reduce((a, x) => a + x.failed, 0),
    cpuMs: xs.reduce((a, x) => a + x.cpuMs, 0),
    wallMs: xs.reduce((a, x) => a + x.wallMs, 0),
  };
}

export function closeClient(): void {
  agent.destroy();
}
