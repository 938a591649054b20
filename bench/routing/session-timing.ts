import { RouterApi } from '../../cli/router/api-client.ts';
import type { SessionResource } from '../../cli/session/session-client.ts';
import type { LocalRuntime } from '../../infra/local/runtime.ts';
import { type Counts, type DynamoMeter, diff } from './dynamo-meter.ts';

/** How often the benchmark polls (the CLI polls every 100 ms; that granularity is not the router's). */
export const POLL_MS = 5;

export interface SessionTiming {
  /** POST /v1/sessions -> a GET reads `ready`. */
  ms: number;
  /** DynamoDB calls from the POST to `ready`, less the polls' own (one token read and one session query each). */
  calls: Counts;
  /** Process CPU in that time (the polls included). */
  cpuMs: number;
}

const cpuNow = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/**
 * Creates a session and waits for it as the CLI does, then deletes it, so every measurement
 * starts from the same table (no live sessions).
 */
export async function timeSessionReady(
  runtime: LocalRuntime,
  meter: DynamoMeter,
  timeoutMs = 10_000,
): Promise<SessionTiming> {
  const api = new RouterApi({
    httpUrl: runtime.httpUrl,
    wsUrl: runtime.wsUrl,
    token: runtime.developerToken,
  });
  const before = meter.snapshot();
  const c0 = cpuNow();
  const t0 = performance.now();
  let s = await api.call<SessionResource>('POST', '/v1/sessions', { service: 'api', label: 'bench' });
  let polls = 0;
  while (s.state === 'pending') {
    if (performance.now() - t0 > timeoutMs) throw new Error(`session ${s.id} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    s = await api.call<SessionResource>('GET', `/v1/sessions/${s.id}`);
    polls++;
  }
  const ms = performance.now() - t0;
  const cpuMs = cpuNow() - c0;
  const calls = diff(meter.snapshot(), before);
  for (const k of ['GetItem TOKEN', 'Query SESSION']) calls[k] = (calls[k] ?? 0) - polls;
  await api.call('DELETE', `/v1/sessions/${s.id}`);
  if (s.state !== 'ready') throw new Error(`session ${s.id} ended ${s.state}: ${JSON.stringify(s.error)}`);
  return { ms, calls, cpuMs };
}
