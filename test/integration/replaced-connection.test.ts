import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { REPLACED } from '../../shared/protocol/close-codes.ts';
import { keys } from '../../shared/store/keys.ts';
import { api } from '../e2e/harness.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { storeOf } from '../helpers/session-release.ts';
import { type SilentCluster, silentCluster } from '../helpers/silent-cluster.ts';

/**
 * Protocol: when a second client connection takes a session over, the first is told why in an
 * `error` frame and closed with REPLACED's code (4001) and reason, through the real ws handler,
 * the real API Gateway management client and the local gateway's @connections API.
 */
let runtime: TestRuntime;
const silent: SilentCluster[] = [];

beforeAll(async () => {
  runtime = await startTestRuntime();
  // Clusters that connect but never answer: the session stays pending, which a client may join.
  for (const id of ['east', 'west']) silent.push(await silentCluster(runtime, id));
});

afterAll(async () => {
  for (const s of silent) await s.close();
  await runtime?.stop();
});

interface Client {
  ws: WebSocket;
  frames: Record<string, unknown>[];
  closed: Promise<{ code: number; reason: string }>;
}

async function connect(sessionId: string): Promise<Client> {
  const ws = new WebSocket(`${runtime.wsUrl}?session=${sessionId}`, {
    headers: { authorization: `Bearer ${runtime.developerToken}` },
  });
  const frames: Record<string, unknown>[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return { ws, frames, closed };
}

describe('a replaced client connection', () => {
  it('is told why and closed with code 4001 "replaced by a newer connection"; the newer one carries on', async () => {
    const created = await api(runtime, 'POST', '/v1/sessions', { service: 'api' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const first = await connect(id);

    const second = await connect(id);

    expect(await first.closed).toEqual({ code: 4001, reason: 'replaced by a newer connection' });
    expect(first.frames).toContainEqual(
      expect.objectContaining({ type: 'error', code: REPLACED.name, closeCode: REPLACED.code }),
    );
    expect(second.ws.readyState).toBe(WebSocket.OPEN);
    const store = storeOf(runtime);
    const session = await store.get(keys.session(id));
    // The session follows the newer connection; the older one's record went with its $disconnect.
    const clientConns = async () =>
      (await store.listByKind('CONN')).filter((c) => c.sessionId === id).map((c) => c.pk);
    await eventually(async () => (await clientConns()).length === 1, 2_000, 'one client connection record');
    expect(await clientConns()).toEqual([`CONN#${session!.clientConnectionId}`]);

    // And again: the second is closed the same way when a third arrives.
    const third = await connect(id);
    expect((await second.closed).code).toBe(4001);
    expect(third.ws.readyState).toBe(WebSocket.OPEN);
    third.ws.close();
  });
});
