import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { describe, expect, it } from 'vitest';
import { ApiGatewayMessenger } from '../../functions/lib/messenger.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { getCluster, LAST_SEEN_WRITE_INTERVAL_MS, readReplicas } from '../../shared/clusters/registry.ts';
import { replicaTag } from '../../shared/clusters/replica.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { REPLICA_SET_MAX_AGE_MS, ReplicaFanout } from '../../shared/messaging/replica-fanout.ts';
import type { DutyContext } from '../../shared/reconcile/duty.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { resendChildrenDuty } from '../../shared/sessions/duties.ts';
import { createSession, onChildAnswer, type SessionDeps } from '../../shared/sessions/lifecycle.ts';
import { readSession } from '../../shared/sessions/sessions.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Key, StoredItem } from '../../shared/store/store.ts';
import { RecordingFeatures } from '../helpers/recording-features.ts';
import { sdkConnections } from '../helpers/sdk-connections.ts';

const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
});

/** A memory store that counts item reads (get, query, listByKind), as DynamoDB bills them. */
class CountingStore extends MemoryStore {
  reads: string[] = [];
  /** Runs once, between a Query's read and its answer reaching the caller (a race, scripted). */
  afterQuery?: { pk: string; run: () => Promise<void> };
  override get(key: Key): Promise<StoredItem | undefined> {
    this.reads.push(key.pk);
    return super.get(key);
  }
  override query(...args: Parameters<MemoryStore['query']>): ReturnType<MemoryStore['query']> {
    this.reads.push(`query:${args[0]}`);
    const hook = this.afterQuery;
    if (!hook || hook.pk !== args[0]) return super.query(...args);
    this.afterQuery = undefined;
    return super.query(...args).then(async (items) => {
      await hook.run();
      return items;
    });
  }
  override listByKind(...args: Parameters<MemoryStore['listByKind']>): ReturnType<MemoryStore['listByKind']> {
    this.reads.push(`kind:${args[0]}`);
    return super.listByKind(...args);
  }
}

/**
 * What API Gateway's @connections does: a post to an open connection lands (a half-open one
 * swallows it: the connector on it is gone but nobody knows yet), a post to a closed one is 410.
 */
class Gateway {
  readonly open = new Set<string>();
  readonly received: { connectionId: string; message: Record<string, unknown> }[] = [];
  /** What a connector does with a message it got (answer a child.create, say). */
  onPost?: (connectionId: string, message: Record<string, unknown>) => Promise<void>;
  readonly client = {
    send: async (command: { input: { ConnectionId: string; Data?: Uint8Array } }) => {
      const id = command.input.ConnectionId;
      if (!this.open.has(id)) throw Object.assign(new Error('gone'), { name: 'GoneException' });
      if (command.input.Data) {
        const message = JSON.parse(Buffer.from(command.input.Data).toString());
        this.received.push({ connectionId: id, message });
        await this.onPost?.(id, message);
      }
      return {};
    },
  } as unknown as ApiGatewayManagementApiClient;

  to(connectionId: string, type?: string) {
    return this.received
      .filter((r) => r.connectionId === connectionId && (!type || r.message.type === type))
      .map((r) => r.message);
  }

  clear(): void {
    this.received.length = 0;
  }
}

async function world() {
  const store = new CountingStore();
  const gateway = new Gateway();
  let clock = 1_700_000_000_000;
  const now = () => clock;
  /** A router instance (a Lambda) with its own caches. */
  const instance = () => {
    const deps: SessionDeps = {
      store,
      topology,
      settings: parseSettings({}),
      messenger: new ApiGatewayMessenger(sdkConnections(gateway.client), store, now),
      now,
      features: new RecordingFeatures(),
    };
    return new Relay(deps);
  };
  const developer = generateToken('developer');
  const cluster = generateToken('cluster');
  await registerToken(store, developer, { type: 'developer', id: 'alice' });
  await registerToken(store, cluster, { type: 'cluster', clusterId: 'east' });
  const relay = instance();

  const w = {
    store,
    gateway,
    relay,
    instance,
    tick: (ms: number) => {
      clock += ms;
    },
    /** A connector replica's connection: $connect, then its hello. */
    async replica(via: Relay, connectionId: string, replicaId: string) {
      const r = await via.connect({
        connectionId,
        token: cluster,
        query: { cluster: 'east', replica: replicaId },
      });
      expect(r.ok).toBe(true);
      gateway.open.add(connectionId);
      await via.message(connectionId, JSON.stringify({ v: 1, type: 'hello', services: ['api'] }));
    },
    async session(clientConnectionId = 'cli-1') {
      const s = await createSession(relay.deps, 'developer:alice', { service: 'api' } as never);
      await onChildAnswer(relay.deps, 'east', { sessionId: s.id, ready: true });
      const c = await relay.connect({
        connectionId: clientConnectionId,
        token: developer,
        query: { session: s.id },
      });
      expect(c.ok).toBe(true);
      gateway.open.add(clientConnectionId);
      return s.id;
    },
  };
  return w;
}

const send = (relay: Relay, connectionId: string, msg: Record<string, unknown>) =>
  relay.message(connectionId, JSON.stringify({ v: 1, ...msg }));

const subscribe = {
  type: 'subscribe',
  reqId: 's1',
  subId: 'sub1',
  service: 'api',
  mode: 'steal',
  filter: { headers: { 'x-dev': 'alice' } },
};

describe('router: every replica of a cluster holds the sessions', () => {
  it('sends child.create and subscribe to every replica, and a later replica gets them in its hello answer', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'b-1', 'east-b');
    const sessionId = await w.session();
    expect(w.gateway.to('a-1', 'child.create')).toHaveLength(1);
    expect(w.gateway.to('b-1', 'child.create')).toHaveLength(1);

    await send(w.relay, 'cli-1', subscribe);
    expect(w.gateway.to('a-1', 'subscribe')).toHaveLength(1);
    expect(w.gateway.to('b-1', 'subscribe')).toHaveLength(1);

    await w.replica(w.relay, 'c-1', 'east-c');
    const [create] = w.gateway.to('c-1', 'child.create');
    expect(create).toMatchObject({ sessionId, spec: { subscriptions: [{ subId: 'sub1', service: 'api' }] } });
    // The hello of c re-sends to c alone: a and b already hold the session.
    expect(w.gateway.to('a-1', 'child.create')).toHaveLength(1);
  });

  it('namespaces a stolen request with the replica that took it, and sends the answer to that replica alone', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'b-1', 'east-b');
    const sessionId = await w.session();
    w.gateway.clear();
    await send(w.relay, 'b-1', {
      type: 'request',
      sessionId,
      requestId: '7',
      subId: 'sub1',
      mode: 'steal',
      method: 'GET',
      path: '/',
      headers: {},
    });
    const [request] = w.gateway.to('cli-1', 'request');
    expect(request?.requestId).toBe(`east.${replicaTag('east-b')}:7`);

    await send(w.relay, 'cli-1', {
      type: 'response',
      requestId: request!.requestId,
      status: 200,
      headers: {},
    });
    expect(w.gateway.to('b-1', 'response')).toEqual([
      expect.objectContaining({ requestId: '7', status: 200 }),
    ]);
    expect(w.gateway.to('a-1', 'response')).toEqual([]);
  });

  it('sends a stateful request to one replica (the oldest), and to the next one when it is gone, never to both', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    w.tick(10);
    await w.replica(w.relay, 'b-1', 'east-b');
    await w.session();
    const env = { type: 'env.get', reqId: 'r1', seq: 1, service: 'api' };
    await send(w.relay, 'cli-1', env);
    expect(w.gateway.to('a-1', 'env.get')).toHaveLength(1);
    expect(w.gateway.to('b-1', 'env.get')).toHaveLength(0);

    // a's pod died without a $disconnect: its connection answers 410.
    w.gateway.open.delete('a-1');
    await send(w.relay, 'cli-1', { ...env, reqId: 'r2', seq: 2 });
    expect(w.gateway.to('b-1', 'env.get').map((m) => m.reqId)).toEqual(['r2']);
    expect((await readReplicas(w.store, 'east')).map((r) => r.replicaId)).toEqual(['east-b']);
    // Found gone by the post, as by a $disconnect: the client hears that r1 will not be answered.
    expect(w.gateway.to('cli-1', 'error')).toEqual([expect.objectContaining({ code: 'replica_gone' })]);
  });

  it('keeps the cluster connected and its children ready when one of two replicas disconnects', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'b-1', 'east-b');
    const sessionId = await w.session();
    w.gateway.open.delete('a-1');
    await w.relay.disconnect('a-1');
    expect((await getCluster(w.store, 'east')).replicas.map((r) => r.replicaId)).toEqual(['east-b']);
    expect((await readSession(w.store, sessionId))?.clusters.east?.state).toBe('ready');

    // The last one leaving takes the cluster down.
    w.gateway.open.delete('b-1');
    await w.relay.disconnect('b-1');
    expect((await getCluster(w.store, 'east')).connected).toBe(false);
    expect((await readSession(w.store, sessionId))?.clusters.east?.state).toBe('disconnected');
  });

  it("ignores a late $disconnect of a replica's old connection once the replica reconnected", async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    const sessionId = await w.session();
    await w.replica(w.relay, 'a-2', 'east-a');
    await w.relay.disconnect('a-1');
    const east = await getCluster(w.store, 'east');
    expect(east.replicas.map((r) => [r.replicaId, r.connectionId])).toEqual([['east-a', 'a-2']]);
    expect((await readSession(w.store, sessionId))?.clusters.east?.state).toBe('ready');
  });

  it('a replica connecting while the last one leaves still ends with the child ready (the scripted race)', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    const sessionId = await w.session();
    // The connectors answer every child.create they get.
    w.gateway.onPost = async (id, m) => {
      if (m.type === 'child.create')
        await send(w.relay, id, { type: 'child.ready', sessionId: m.sessionId, childId: m.childId });
    };
    // a leaves: its $disconnect finds no replica left ... and before it marks the children, b
    // connects, says hello and answers ready. Then a's $disconnect marks them disconnected.
    w.store.afterQuery = {
      pk: 'CLUSTER#east',
      run: () => w.replica(w.relay, 'b-1', 'east-b'),
    };
    w.gateway.open.delete('a-1');
    await w.relay.disconnect('a-1');
    expect((await readReplicas(w.store, 'east')).map((r) => r.replicaId)).toEqual(['east-b']);
    // The second look at the set found b and sent it the session again: b's answer made it ready.
    expect((await readSession(w.store, sessionId))?.clusters.east?.state).toBe('ready');
  });

  it("tells the sessions' clients when the replica answering their stateful requests leaves", async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    w.tick(10);
    await w.replica(w.relay, 'b-1', 'east-b');
    await w.session();
    await w.relay.disconnect('b-1'); // not the stateful one: nothing to tell
    expect(w.gateway.to('cli-1', 'error')).toEqual([]);
    await w.replica(w.relay, 'b-2', 'east-b');
    await w.relay.disconnect('a-1');
    expect(w.gateway.to('cli-1', 'error')).toEqual([
      expect.objectContaining({ code: 'replica_gone', cluster: 'east' }),
    ]);
  });

  it("sends a young session's child to every replica once more from the reconciler (a replica registering at its creation)", async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'b-1', 'east-b');
    const sessionId = await w.session();
    w.gateway.clear();
    const deps = w.relay.deps;
    const ctx = {
      store: w.store,
      now: deps.now,
      settings: deps.settings,
      topology: deps.topology,
      deps: { messenger: deps.messenger },
      isLeader: () => true,
    } as unknown as DutyContext;
    await resendChildrenDuty.run(ctx);
    expect(w.gateway.to('a-1', 'child.create').map((m) => m.sessionId)).toEqual([sessionId]);
    expect(w.gateway.to('b-1', 'child.create').map((m) => m.sessionId)).toEqual([sessionId]);

    w.gateway.clear();
    w.tick(2 * deps.settings.reconcileEveryMs);
    await resendChildrenDuty.run(ctx);
    expect(w.gateway.to('a-1', 'child.create')).toEqual([]); // no longer young: left alone
  });

  it('tells a connection that its replica id moved to another connection (two pods, one id)', async () => {
    const w = await world();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'a-2', 'east-a'); // a second process under the same id
    w.tick(LAST_SEEN_WRITE_INTERVAL_MS);
    await send(w.relay, 'a-1', { type: 'ping' });
    expect(w.gateway.to('a-1', 'error')).toEqual([expect.objectContaining({ code: 'replica_replaced' })]);
    await send(w.relay, 'a-2', { type: 'ping' });
    expect(w.gateway.to('a-2', 'error')).toEqual([]);
  });

  it('refuses a malformed replica id at $connect', async () => {
    const w = await world();
    const token = generateToken('cluster');
    await registerToken(w.store, token, { type: 'cluster', clusterId: 'east' });
    const r = await w.relay.connect({
      connectionId: 'x-1',
      token,
      query: { cluster: 'east', replica: '../../etc' },
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.httpStatus).toBe(400);
  });
});

describe('router: cached replica sets cannot go stale', () => {
  it('sends stateful requests to the new connection of a reconnected replica once the bound passed, in another instance', async () => {
    const w = await world();
    const other = w.instance();
    await w.replica(w.relay, 'a-1', 'east-a');
    const sessionId = await w.session();
    const identity = { role: 'client', sessionId, owner: 'developer:alice' } as const;
    const env = (n: number) =>
      JSON.stringify({ v: 1, type: 'env.get', reqId: `r${n}`, seq: n, service: 'api' });
    await other.message('cli-1', env(1), identity); // caches {a: a-1}
    await w.replica(w.relay, 'a-2', 'east-a'); // a-1 stays open (half-open)
    w.gateway.clear();
    await other.message('cli-1', env(2), identity);
    expect(w.gateway.to('a-1', 'env.get')).toHaveLength(1); // within the bound: the cached view
    w.tick(REPLICA_SET_MAX_AGE_MS);
    await other.message('cli-1', env(3), identity);
    expect(w.gateway.to('a-2', 'env.get').map((m) => m.reqId)).toEqual(['r3']);
    expect(w.gateway.to('a-1', 'env.get')).toHaveLength(1);
  });

  it('a reconnect (same replica id) replaces the old, still open connection for sessions and subscriptions in another instance at once', async () => {
    const w = await world();
    const other = w.instance();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.session('cli-1');
    // The other instance caches east's set (a-1) by routing a client's subscribe.
    const s2 = await w.session('cli-2');
    await send(other, 'cli-2', { ...subscribe, sessionId: s2 });
    expect(w.gateway.to('a-1', 'subscribe')).toHaveLength(1);

    // The connector reconnects through the first instance; a-1 stays open (half-open).
    await w.replica(w.relay, 'a-2', 'east-a');
    w.gateway.clear();
    await send(other, 'cli-2', { ...subscribe, reqId: 's2', subId: 'sub2', sessionId: s2 });
    expect(w.gateway.to('a-2', 'subscribe')).toHaveLength(1);
    expect(w.gateway.to('a-1', 'subscribe')).toHaveLength(0);
  });

  it("answers a new replica's stolen request through an instance that cached the set before it came", async () => {
    const w = await world();
    const other = w.instance();
    await w.replica(w.relay, 'a-1', 'east-a');
    const sessionId = await w.session();
    const identity = { role: 'client', sessionId, owner: 'developer:alice' } as const;
    await other.message('cli-1', JSON.stringify({ v: 1, ...subscribe }), identity); // caches {a}
    await w.replica(w.relay, 'c-1', 'east-c');
    await send(w.relay, 'c-1', {
      type: 'request',
      sessionId,
      requestId: '9',
      subId: 'sub1',
      mode: 'steal',
      method: 'GET',
      path: '/',
      headers: {},
    });
    const requestId = w.gateway.to('cli-1', 'request')[0]!.requestId as string;
    w.tick(ReplicaFanout.MISS_REFRESH_MIN_AGE_MS);

    const answer = JSON.stringify({ v: 1, type: 'response', requestId, status: 201, headers: {} });
    await other.message('cli-1', answer, identity);
    expect(w.gateway.to('c-1', 'response')).toEqual([
      expect.objectContaining({ requestId: '9', status: 201 }),
    ]);

    // Made-up tags buy at most one read per 100 ms.
    w.store.reads = [];
    for (let i = 0; i < 5; i++) {
      const forged = JSON.stringify({
        v: 1,
        type: 'response',
        requestId: `east.0000000${i}:1`,
        status: 200,
        headers: {},
      });
      await other.message('cli-1', forged, identity);
    }
    expect(w.store.reads.filter((r) => r === 'query:CLUSTER#east').length).toBeLessThanOrEqual(1);
  });

  it('routes with 0 reads warm, and reads the set once when it is older than the bound', async () => {
    const w = await world();
    const other = w.instance();
    await w.replica(w.relay, 'a-1', 'east-a');
    await w.replica(w.relay, 'b-1', 'east-b');
    const sessionId = await w.session();
    const env = (n: number) => ({ type: 'env.get', reqId: `r${n}`, seq: n, service: 'api' });
    const identity = { role: 'client', sessionId, owner: 'developer:alice' } as const;

    w.store.reads = [];
    await other.message('cli-1', JSON.stringify({ v: 1, ...env(1) }), identity);
    expect(w.store.reads).toEqual(['query:CLUSTER#east']); // cold: one read

    w.store.reads = [];
    for (let n = 2; n < 6; n++) await other.message('cli-1', JSON.stringify({ v: 1, ...env(n) }), identity);
    expect(w.store.reads).toEqual([]); // warm: none

    // A subscribe (control, not traffic) reads the set fresh: no replica may miss it.
    await other.message('cli-1', JSON.stringify({ v: 1, ...subscribe }), identity);
    expect(w.store.reads.filter((r) => r.startsWith('query:CLUSTER'))).toEqual(['query:CLUSTER#east']);
    w.store.reads = [];

    w.tick(REPLICA_SET_MAX_AGE_MS - 1);
    w.store.reads = [];
    await other.message('cli-1', JSON.stringify({ v: 1, ...env(6) }), identity);
    expect(w.store.reads).toEqual([]);

    w.tick(1);
    await other.message('cli-1', JSON.stringify({ v: 1, ...env(7) }), identity);
    await other.message('cli-1', JSON.stringify({ v: 1, ...env(8) }), identity);
    expect(w.store.reads).toEqual(['query:CLUSTER#east']); // one refresh per bound
  });
});
