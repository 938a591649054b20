import { describe, expect, it } from 'vitest';
import type { ConnectionsApi } from '../../functions/lib/connections-client.ts';
import { ApiGatewayMessenger } from '../../functions/lib/messenger.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { getCluster } from '../../shared/clusters/registry.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { encodeFrames } from '../../shared/protocol/chunking.ts';
import { type ConnectionIdentity, identityFromContext } from '../../shared/relay/identity.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { ownerKey } from '../../shared/routing/owner-key.ts';
import { createSession, onChildAnswer, type SessionDeps } from '../../shared/sessions/lifecycle.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Key, StoredItem } from '../../shared/store/store.ts';
import { RecordingFeatures } from '../helpers/recording-features.ts';

const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
});

/** A memory store that counts item reads (get, query, listByKind), as DynamoDB bills them. */
class CountingStore extends MemoryStore {
  reads: string[] = [];
  override get(key: Key): Promise<StoredItem | undefined> {
    this.reads.push(key.pk);
    return super.get(key);
  }
  override query(...args: Parameters<MemoryStore['query']>): ReturnType<MemoryStore['query']> {
    this.reads.push(`query:${args[0]}`);
    return super.query(...args);
  }
  override listByKind(...args: Parameters<MemoryStore['listByKind']>): ReturnType<MemoryStore['listByKind']> {
    this.reads.push(`kind:${args[0]}`);
    return super.listByKind(...args);
  }
}

/** What the router's messenger posts (its table reads are the ones being counted). */
function posting(posted: { connectionId: string; data: string }[]): ConnectionsApi {
  return {
    post: async (connectionId, data) => {
      posted.push({ connectionId, data: data.toString('utf8') });
      return true;
    },
    remove: async (connectionId) => {
      posted.push({ connectionId, data: '<deleted>' });
      return true;
    },
  };
}

/**
 * A router with a client connected to a ready session and the east connector connected, both
 * accepted by one (warm) instance; `fresh()` is another instance that has never seen either
 * connection, with its own messenger: a cold Lambda.
 */
async function world() {
  const store = new CountingStore();
  const posted: { connectionId: string; data: string }[] = [];
  const depsOf = (): SessionDeps => ({
    store,
    topology,
    settings: parseSettings({}),
    messenger: new ApiGatewayMessenger(posting(posted), store, Date.now),
    now: Date.now,
    features: new RecordingFeatures(),
  });
  const developer = generateToken('developer');
  const cluster = generateToken('cluster');
  await registerToken(store, developer, { type: 'developer', id: 'alice' });
  await registerToken(store, cluster, { type: 'cluster', clusterId: 'east' });
  const warm = new Relay(depsOf());
  const connector = await warm.connect({
    connectionId: 'east-1',
    token: cluster,
    query: { cluster: 'east' },
  });
  const session = await createSession(warm.deps, 'developer:alice', { service: 'api' } as never);
  await onChildAnswer(warm.deps, 'east', { sessionId: session.id, ready: true });
  const client = await warm.connect({
    connectionId: 'cli-1',
    token: developer,
    query: { session: session.id },
  });
  expect(client.ok && connector.ok).toBe(true);
  posted.length = 0; // what the setup sent (the child spec) is not under test
  return {
    store,
    posted,
    developer,
    cluster,
    sessionId: session.id,
    warm,
    fresh: () => new Relay(depsOf()),
    clientIdentity: { role: 'client', sessionId: session.id, owner: 'developer:alice' } as ConnectionIdentity,
    clusterIdentity: { role: 'cluster', clusterId: 'east' } as ConnectionIdentity,
  };
}

const stolenRequest = (sessionId: string) =>
  JSON.stringify({
    v: 1,
    type: 'request',
    sessionId,
    requestId: '41',
    subId: 'sub1',
    mode: 'steal',
    method: 'GET',
    path: '/x',
    headers: {},
  });
const response = JSON.stringify({ v: 1, type: 'response', requestId: 'east:41', status: 200, headers: {} });

describe('relay: the sender from the $connect authorizer, not from the table', () => {
  it("routes a cluster's message on a cold instance with one read (the target) given the identity, two without", async () => {
    const w = await world();
    w.store.reads = [];
    await w.fresh().message('east-1', stolenRequest(w.sessionId), w.clusterIdentity);
    expect(w.store.reads).toEqual([`SESSION#${w.sessionId}`]);
    expect(w.posted.map((p) => p.connectionId)).toEqual(['cli-1']);

    w.store.reads = [];
    await w.fresh().message('east-1', stolenRequest(w.sessionId));
    expect(w.store.reads).toEqual(['CONN#east-1', `SESSION#${w.sessionId}`]);
    expect(w.posted.map((p) => p.connectionId)).toEqual(['cli-1', 'cli-1']);
  });

  it("routes a client's message on a cold instance with one read (the target) given the identity, two without", async () => {
    const w = await world();
    w.store.reads = [];
    await w.fresh().message('cli-1', response, w.clientIdentity);
    expect(w.store.reads).toEqual(['query:CLUSTER#east']);
    expect(w.posted.map((p) => [p.connectionId, JSON.parse(p.data).type])).toEqual([['east-1', 'response']]);

    w.store.reads = [];
    await w.fresh().message('cli-1', response);
    expect(w.store.reads).toEqual(['CONN#cli-1', 'query:CLUSTER#east']);
    expect(w.posted).toHaveLength(2);
  });

  it('routes 100 requests and their answers on a warm instance with 0 reads and one post per message', async () => {
    // Prepare
    const w = await world();
    const body = Buffer.from('{"ok":true}').toString('base64');
    w.store.reads = [];

    // Act: what a steady stream of stolen requests is, both ways; each answer names the request
    // as the client got it (namespaced by the router).
    for (let i = 0; i < 100; i++) {
      const req = JSON.parse(stolenRequest(w.sessionId));
      await w.warm.message('east-1', JSON.stringify({ ...req, requestId: `r${i}` }), w.clusterIdentity);
      const delivered = JSON.parse(w.posted.at(-1)!.data) as { requestId: string };
      await w.warm.message(
        'cli-1',
        JSON.stringify({ ...JSON.parse(response), requestId: delivered.requestId, body }),
        w.clientIdentity,
      );
    }

    // Assess: nothing read, each message posted once to its one target, routing fields rewritten
    // and the rest (the body) as it came.
    expect(w.store.reads).toEqual([]);
    expect(w.posted).toHaveLength(200);
    const last = w.posted.slice(-2).map((p) => ({ to: p.connectionId, msg: JSON.parse(p.data) }));
    expect(last).toEqual([
      {
        to: 'cli-1',
        msg: expect.objectContaining({
          type: 'request',
          requestId: expect.stringMatching(/^east[.:].*r99$/),
          cluster: 'east',
        }),
      },
      {
        to: 'east-1',
        msg: expect.objectContaining({ type: 'response', requestId: 'r99', sessionId: w.sessionId, body }),
      },
    ]);
    expect(last[1]!.msg.cluster).toBeUndefined();
  });

  it("stamps a client's answer with the session of its connection, reading nothing when warm (request binding)", async () => {
    // Prepare
    const w = await world();
    w.store.reads = [];

    // Act: the client leaves sessionId out, then names a session that is not its own.
    await w.warm.message('cli-1', response, w.clientIdentity);
    const forged = JSON.parse(response);
    await w.warm.message('cli-1', JSON.stringify({ ...forged, sessionId: 'someoneelse' }), w.clientIdentity);

    // Assess: the connector learns the sender's session from the router, never from the frame.
    expect(w.store.reads).toEqual([]);
    const [toCluster, refusal] = w.posted.map((p) => ({ to: p.connectionId, msg: JSON.parse(p.data) }));
    expect(toCluster).toEqual({
      to: 'east-1',
      msg: expect.objectContaining({ type: 'response', requestId: '41', sessionId: w.sessionId }),
    });
    expect(refusal).toEqual({
      to: 'cli-1',
      msg: expect.objectContaining({ type: 'error', code: 'session_mismatch', requestId: 'east:41' }),
    });
    expect(w.posted).toHaveLength(2);
  });

  it("stamps a client's chunk with the opaque key of its owner, replacing a claimed one, reading nothing when warm", async () => {
    // Prepare: a large answer cut into chunks; its sender claims to be someone else.
    const w = await world();
    const big = { ...JSON.parse(response), body: Buffer.alloc(60_000, 1).toString('base64') };
    const frames = encodeFrames(big).map((f) => ({ ...JSON.parse(f), owner: ownerKey('developer:bob') }));
    w.store.reads = [];

    // Act
    for (const f of frames) await w.warm.message('cli-1', JSON.stringify(f), w.clientIdentity);

    // Assess: every chunk reaches the connector stamped with Alice's key, none with the claim.
    expect(w.store.reads).toEqual([]);
    const sent = w.posted.map((p) => JSON.parse(p.data));
    expect(sent).toHaveLength(frames.length);
    for (const c of sent) {
      expect(c).toMatchObject({
        type: 'chunk',
        owner: ownerKey('developer:alice'),
        head: { sessionId: w.sessionId },
      });
    }
  });

  it.each([
    ['a role it does not know', { role: 'admin', clusterId: 'east' }],
    ['a cluster without its id', { role: 'cluster' }],
    ['a client without an owner', { role: 'client', sessionId: 'abc' }],
    ['a malformed session id', { role: 'client', sessionId: 'ABC/../x', owner: 'developer:alice' }],
    ['keys of both roles', { role: 'cluster', clusterId: 'east', sessionId: 'abc' }],
    ['an unknown key', { role: 'cluster', clusterId: 'east', admin: true }],
    ['a refusal', { authStatus: 401, authError: '{}' }],
    ['nothing', undefined],
    ['a string', 'cluster:east'],
  ])('reads the connection record when the authorizer context is %s', async (_name, context) => {
    expect(identityFromContext(context)).toBeUndefined();
    const w = await world();
    w.store.reads = [];
    await w.fresh().message('east-1', stolenRequest(w.sessionId), identityFromContext(context));
    expect(w.store.reads[0]).toBe('CONN#east-1');
    // The record says who sent it: the request still reaches the session's client.
    expect(w.posted.map((p) => p.connectionId)).toEqual(['cli-1']);
  });

  it('accepts the context exactly as API Gateway hands it over (with principalId and integrationLatency)', () => {
    expect(
      identityFromContext({
        role: 'cluster',
        clusterId: 'east',
        principalId: 'cluster:east',
        integrationLatency: 12,
      }),
    ).toEqual({ role: 'cluster', clusterId: 'east' });
    expect(
      identityFromContext({
        role: 'client',
        sessionId: 'abc123',
        owner: 'developer:alice',
        principalId: 'x',
      }),
    ).toEqual({ role: 'client', sessionId: 'abc123', owner: 'developer:alice' });
  });

  it('handles $disconnect of a cluster from the identity without reading its record', async () => {
    const w = await world();
    w.store.reads = [];
    await w.fresh().disconnect('east-1', w.clusterIdentity);
    expect(w.store.reads).not.toContain('CONN#east-1');
    expect(await w.store.get({ pk: 'CONN#east-1', sk: 'CONN' })).toBeUndefined();
    expect((await getCluster(w.store, 'east')).connected).toBe(false);
  });
});

describe('relay: $connect checks in one place', () => {
  it('authorizeConnect finds the identity of a cluster and of a client, without writing', async () => {
    const w = await world();
    const relay = w.fresh();
    expect(await relay.authorizeConnect({ token: w.cluster, query: { cluster: 'east' } })).toEqual({
      ok: true,
      identity: { role: 'cluster', clusterId: 'east' },
    });
    expect(await relay.authorizeConnect({ token: w.developer, query: { session: w.sessionId } })).toEqual({
      ok: true,
      identity: w.clientIdentity,
    });
  });

  it.each([
    ['no token', () => undefined, { session: 'x' }, 401],
    ['another cluster', (w: { cluster: string }) => w.cluster, { cluster: 'west' }, 403],
    ['no session', (w: { developer: string }) => w.developer, {}, 400],
    ['an unknown session', (w: { developer: string }) => w.developer, { session: 'nope' }, 404],
  ] as const)('authorizeConnect refuses %s', async (_name, token, query, status) => {
    const w = await world();
    const auth = await w.fresh().authorizeConnect({ token: token(w), query });
    expect(auth.ok).toBe(false);
    if (!auth.ok) expect(auth.error.httpStatus).toBe(status);
  });

  it('connect with the identity records the connection without reading the token; the session item once, for the connection it replaces', async () => {
    const w = await world();
    const relay = w.fresh();
    w.store.reads = [];
    const result = await relay.connect({
      connectionId: 'cli-2',
      token: undefined,
      query: {},
      identity: w.clientIdentity,
    });
    expect(result.ok).toBe(true);
    expect(w.store.reads).toEqual([`SESSION#${w.sessionId}`]);
    expect(await w.store.get({ pk: 'CONN#cli-2', sk: 'CONN' })).toMatchObject({
      role: 'client',
      sessionId: w.sessionId,
      owner: 'developer:alice',
    });
    const session = await w.store.get({ pk: `SESSION#${w.sessionId}`, sk: 'SESSION' });
    expect(session?.clientConnectionId).toBe('cli-2');
    // The connection it replaced is told why, then closed.
    const toOld = w.posted.filter((p) => p.connectionId === 'cli-1').slice(-2);
    expect(JSON.parse(toOld[0]!.data)).toMatchObject({
      type: 'error',
      code: 'connection_replaced',
      closeCode: 4001,
    });
    expect(toOld[1]!.data).toBe('<deleted>');
  });

  it('refuses with 410 a session that ended between the authorizer and $connect', async () => {
    const w = await world();
    await w.store.update({ pk: `SESSION#${w.sessionId}`, sk: 'SESSION' }, { state: 'closed' });
    const result = await w.fresh().connect({
      connectionId: 'cli-3',
      token: undefined,
      query: {},
      identity: w.clientIdentity,
    });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.httpStatus).toBe(410);
    expect(await w.store.get({ pk: 'CONN#cli-3', sk: 'CONN' })).toBeUndefined();
  });

  it('connect without the identity runs the checks itself', async () => {
    const w = await world();
    const refused = await w
      .fresh()
      .connect({ connectionId: 'x-1', token: w.cluster, query: { cluster: 'west' } });
    expect(refused.ok).toBe(false);
    expect(await w.store.get({ pk: 'CONN#x-1', sk: 'CONN' })).toBeUndefined();
  });
});
