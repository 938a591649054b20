import { describe, expect, it } from 'vitest';
import { generateToken, registerToken } from '../../../shared/auth/tokens.ts';
import { replicaTag } from '../../../shared/clusters/replica.ts';
import { parseSettings } from '../../../shared/config/settings.ts';
import { parseTopology } from '../../../shared/config/topology.ts';
import { Relay } from '../../../shared/relay/relay.ts';
import { createSession, onChildAnswer, type SessionDeps } from '../../../shared/sessions/lifecycle.ts';
import { MemoryStore } from '../../../shared/store/memory/memory-store.ts';
import { RecordingFeatures } from '../../../test/helpers/recording-features.ts';
import { RecordingMessenger } from '../../../test/helpers/recording-messenger.ts';

/**
 * Replicas share nothing but the table: each worker has its own Relay, with its own caches. These
 * check what the workers rely on: a worker finds in the store what another worker accepted, and
 * a cache entry made stale by a connection that went away (410) is read again from the store.
 */
const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
});

async function twoWorkers() {
  const store = new MemoryStore();
  // One delivery layer for both: a post reaches a connection whichever worker holds it (the
  // @connections forwarding), and a connection that is gone answers false (410).
  const messenger = new RecordingMessenger(new Set(['east']));
  const deps: SessionDeps = {
    store,
    topology,
    settings: parseSettings({}),
    messenger,
    now: Date.now,
    features: new RecordingFeatures(),
  };
  const developer = generateToken('developer');
  const cluster = generateToken('cluster');
  await registerToken(store, developer, { type: 'developer', id: 'local' });
  await registerToken(store, cluster, { type: 'cluster', clusterId: 'east' });
  const session = await createSession(deps, 'developer:local', { service: 'api' } as never);
  await onChildAnswer(deps, 'east', { sessionId: session.id, ready: true });
  return {
    store,
    messenger,
    deps,
    developer,
    cluster,
    sessionId: session.id,
    a: new Relay(deps),
    b: new Relay(deps),
  };
}

const request = (sessionId: string, requestId: string) =>
  JSON.stringify({
    v: 1,
    type: 'request',
    sessionId,
    requestId,
    subId: 'sub1',
    mode: 'steal',
    method: 'GET',
    path: '/x',
    headers: {},
  });

describe('relay state across router workers', () => {
  it("routes a cluster's request, on worker B, to the client connection worker A accepted", async () => {
    const w = await twoWorkers();
    expect(
      (await w.a.connect({ connectionId: 'cli-a', token: w.developer, query: { session: w.sessionId } })).ok,
    ).toBe(true);
    expect(
      (await w.b.connect({ connectionId: 'east-b', token: w.cluster, query: { cluster: 'east' } })).ok,
    ).toBe(true);
    w.messenger.liveConnections.add('cli-a');

    await w.b.message('east-b', request(w.sessionId, 'r1'));

    expect(w.messenger.toConnections).toEqual([
      { connectionId: 'cli-a', message: expect.objectContaining({ type: 'request', mode: 'steal' }) },
    ]);
  });

  it('reads a connection accepted by another worker from the store instead of closing it', async () => {
    const w = await twoWorkers();
    await w.a.connect({ connectionId: 'cli-a', token: w.developer, query: { session: w.sessionId } });

    // Worker B never saw this connection's $connect.
    await w.b.message('cli-a', JSON.stringify({ v: 1, type: 'ping' }));

    expect(w.messenger.closed).toEqual([]);
    expect(w.messenger.sentTypes('east')).toContain('ping');
  });

  it('drops a cached client connection that answers 410 and reads the resumed one from the store', async () => {
    const w = await twoWorkers();
    await w.a.connect({
      connectionId: 'east-a',
      token: w.cluster,
      query: { cluster: 'east', replica: 'east-pod-1' },
    });
    // The CLI first connected through worker A (which caches it) ...
    await w.a.connect({ connectionId: 'cli-1', token: w.developer, query: { session: w.sessionId } });
    w.messenger.liveConnections.add('cli-1');
    await w.a.message('east-a', request(w.sessionId, 'r1'));
    // ... then its worker died and it resumed through worker B: cli-1 is gone (410), without a $disconnect.
    w.messenger.liveConnections.delete('cli-1');
    await w.b.connect({ connectionId: 'cli-2', token: w.developer, query: { session: w.sessionId } });
    w.messenger.liveConnections.add('cli-2');

    await w.a.message('east-a', request(w.sessionId, 'r2'));

    expect(w.messenger.toConnections.map((m) => [m.connectionId, m.message.requestId])).toEqual([
      ['cli-1', `east.${replicaTag('east-pod-1')}:r1`],
      ['cli-2', `east.${replicaTag('east-pod-1')}:r2`],
    ]);
    // Delivered: the cluster was not told that the developer is gone.
    expect(w.messenger.toClusters.filter((m) => m.message.code === 'client_gone')).toEqual([]);
  });
});
