import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { RouterApi } from '../../cli/router/api-client.ts';
import type { SessionResource } from '../../cli/session/session-client.ts';
import { LOCAL_CREDENTIALS } from '../../infra/local/credentials.ts';
import type { LocalRuntime } from '../../infra/local/runtime.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { type Counts, type DynamoMeter, diff } from './dynamo-meter.ts';

/**
 * How often the benchmark polls. The time it reports is not the poll's: it is when the router
 * decided `ready` (the session item's `updatedAt`, written by that decision), so polls neither
 * round the figure up nor, by their own load, slow a one-process world down (a poll of a
 * 10-cluster session reads 11 items; every 5 ms that was most of the table traffic).
 */
export const POLL_MS = 20;

export interface SessionTiming {
  /** POST /v1/sessions -> the router writes the session `ready`. */
  ms: number;
  /** POST -> a GET reads `ready` (polled every POLL_MS). */
  polledMs: number;
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
  const wall0 = Date.now();
  let s = await api.call<SessionResource>('POST', '/v1/sessions', { service: 'api', label: 'bench' });
  let polls = 0;
  while (s.state === 'pending') {
    if (performance.now() - t0 > timeoutMs) throw new Error(`session ${s.id} not ready in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, POLL_MS));
    s = await api.call<SessionResource>('GET', `/v1/sessions/${s.id}`);
    polls++;
  }
  const polledMs = performance.now() - t0;
  const cpuMs = cpuNow() - c0;
  const calls = diff(meter.snapshot(), before);
  // A meter out of the path counts nothing, and nothing is taken off.
  for (const k of ['GetItem TOKEN', 'Query SESSION']) if (k in calls) calls[k] = calls[k]! - polls;
  if (s.state !== 'ready') throw new Error(`session ${s.id} ended ${s.state}: ${JSON.stringify(s.error)}`);
  // Straight to the table, not through the meter: this read is the benchmark's, not the router's.
  const item = await direct(runtime).get(keys.session(s.id));
  const readyAt = Number(item?.updatedAt);
  await api.call('DELETE', `/v1/sessions/${s.id}`);
  const ms = Number.isFinite(readyAt) ? readyAt - wall0 : polledMs;
  return { ms, polledMs, calls, cpuMs };
}

const stores = new WeakMap<LocalRuntime, DynamoDbStore>();
function direct(runtime: LocalRuntime): DynamoDbStore {
  let store = stores.get(runtime);
  if (!store) {
    const client = new DynamoDBClient({
      region: runtime.region,
      endpoint: runtime.dynamodbEndpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    store = new DynamoDbStore(client, runtime.tableName);
    stores.set(runtime, store);
  }
  return store;
}
