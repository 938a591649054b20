import { beforeEach, describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import {
  ClusterUnavailableError,
  ConditionFailedError,
  GoneError,
  NotFoundError,
} from '../../shared/errors/errors.ts';
import {
  assertResumable,
  createSession,
  endSession,
  expireSessions,
  onChildAnswer,
  onClusterConnected,
  onClusterDisconnected,
  type SessionDeps,
  sessionForOwner,
} from '../../shared/sessions/lifecycle.ts';
import { CreateSessionSchema } from '../../shared/sessions/model.ts';
import { attachClient, heartbeat, listSessions, readSession } from '../../shared/sessions/sessions.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { RecordingFeatures } from '../helpers/recording-features.ts';
import { RecordingMessenger } from '../helpers/recording-messenger.ts';

const topology = parseTopology({
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
    { id: 'south', roles: ['workload'] },
  ],
});

function setup(connected = ['east', 'west', 'south'], over: Record<string, number> = {}) {
  let now = 1_000_000;
  const messenger = new RecordingMessenger(new Set(connected));
  const features = new RecordingFeatures();
  const deps: SessionDeps = {
    store: new MemoryStore(),
    topology,
    settings: parseSettings({ sessionTimeoutMs: 60_000, childReadyTimeoutMs: 600_000, ...over }),
    messenger,
    now: () => now,
    features,
  };
  return { deps, messenger, features, advance: (ms: number) => (now += ms) };
}

const req = (body: unknown) => CreateSessionSchema.parse(body);

describe('session lifecycle', () => {
  let t: ReturnType<typeof setup>;
  beforeEach(() => {
    t = setup();
  });

  it('writes a pending parent with one child per cluster and asks every cluster for its child', async () => {
    // Act
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));

    // Assess
    expect(s.state).toBe('pending');
    expect(Object.keys(s.clusters).sort()).toEqual(['east', 'south', 'west']);
    expect(s.clusters.east!.roles).toEqual(['workload', 'default']);
    expect(s.clusters.west!.childId).toBe(`mc-${s.id}-west`);
    for (const c of ['east', 'west', 'south']) expect(t.messenger.sentTypes(c)).toEqual(['child.create']);
    const spec = t.messenger.toClusters.find((m) => m.clusterId === 'west')!.message.spec as Record<
      string,
      unknown
    >;
    expect(spec).toMatchObject({ sessionId: s.id, service: 'api', roles: ['workload'] });
  });

  it('creates with two writes however many clusters (the parent, then its children in one batch), and reads nothing back', async () => {
    // Arrange: a store that records every call
    const calls: string[] = [];
    class RecordingStore extends MemoryStore {
      override put(...a: Parameters<MemoryStore['put']>) {
        calls.push(`put ${a[0].sk}`);
        return super.put(...a);
      }
      override putAll(...a: Parameters<MemoryStore['putAll']>) {
        calls.push(
          `putAll ${a[0]
            .map((i) => i.sk)
            .sort()
            .join(',')}`,
        );
        return super.putAll(...a);
      }
      override query(...a: Parameters<MemoryStore['query']>) {
        calls.push(`query ${a[0]}`);
        return super.query(...a);
      }
      override get(...a: Parameters<MemoryStore['get']>) {
        calls.push(`get ${a[0].pk}`);
        return super.get(...a);
      }
    }
    t.deps.store = new RecordingStore();

    // Act
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));

    // Assess: the view returned is the one a read gives, and was not read to get it
    expect(calls).toEqual(['put SESSION', 'putAll CHILD#east,CHILD#south,CHILD#west']);
    const read = (await readSession(t.deps.store, s.id))!;
    expect(s).toEqual(read);
    expect(Object.keys(s.clusters)).toEqual(['east', 'south', 'west']);
  });

  it('never writes the children of an id another session holds', async () => {
    // Arrange: the parent item of the id the session will draw already exists
    const store = new MemoryStore();
    t.deps.store = store;
    const taken = await createSession(t.deps, 'developer:bob', req({ service: 'api' }));
    const putAll = store.putAll.bind(store);
    let batches = 0;
    store.putAll = (items) => {
      batches++;
      return putAll(items);
    };
    const put = store.put.bind(store);
    // The next creation's parent put meets the existing parent (an id collision).
    store.put = (item, opts) => put({ ...item, pk: `SESSION#${taken.id}`, id: taken.id }, opts);

    // Act
    const err = await createSession(t.deps, 'developer:ann', req({ service: 'api' })).catch((e) => e);

    // Assess
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(batches).toBe(0);
    expect((await readSession(store, taken.id))!.owner).toBe('developer:bob');
  });

  it('becomes ready only when every child is ready', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
    await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
    expect((await readSession(t.deps.store, s.id))!.state).toBe('pending');

    await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

    expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
  });

  it('fails when a child fails, says which and why, and closes the others', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
    await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

    await onChildAnswer(t.deps, 'west', {
      sessionId: s.id,
      ready: false,
      error: { code: 'unknown_service', message: "no service 'api' here" },
    });

    const after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('closed');
    expect(after.error).toEqual({ code: 'unknown_service', message: "west: no service 'api' here" });
    expect(t.messenger.sentTypes('east')).toEqual(['child.create', 'child.close']);
    expect(after.clusters.west!.state).toBe('closed');
  });

  it('settles when a child fails while others are still pending: the later answers complete the count', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
    await onChildAnswer(t.deps, 'west', {
      sessionId: s.id,
      ready: false,
      error: { code: 'unknown_service', message: "no service 'api' here" },
    });
    expect((await readSession(t.deps.store, s.id))!.state).toBe('pending');

    await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

    const after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('closed');
    expect(after.error!.message).toContain('west');
  });

  it('settles when a child back from a disconnect before its first answer answers before the others', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await onClusterDisconnected(t.deps, 'west');
    await onClusterConnected(t.deps, 'west');
    await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
    await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
    expect((await readSession(t.deps.store, s.id))!.state).toBe('pending');

    await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

    expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
  });

  describe('a first ready answer is one write, on the parent', () => {
    /** Every store call after `from`, as `<op> <sk>`. */
    function record(store: MemoryStore): string[] {
      const calls: string[] = [];
      for (const op of ['get', 'put', 'update', 'delete', 'query'] as const) {
        const original = store[op].bind(store) as (...a: unknown[]) => Promise<unknown>;
        (store as unknown as Record<string, unknown>)[op] = (...a: unknown[]) => {
          const first = a[0] as { sk?: string } | string;
          calls.push(`${op} ${typeof first === 'string' ? first.split('#')[0] : first.sk}`);
          return original(...a);
        };
      }
      return calls;
    }
    const childItem = (id: string, c: string) => t.deps.store.get({ pk: `SESSION#${id}`, sk: `CHILD#${c}` });

    it('marks the parent and counts in one conditional update; the child reads ready, its item is written once the session is', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      const calls = record(t.deps.store as MemoryStore);

      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });

      expect(calls).toEqual(['update SESSION']);
      const view = (await readSession(t.deps.store, s.id))!;
      expect(view.clusters.west!.state).toBe('ready');
      expect(view.state).toBe('pending');
      expect((await childItem(s.id, 'west'))!.state).toBe('pending');

      await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

      expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
      for (const c of ['east', 'west', 'south']) expect((await childItem(s.id, c))!.state).toBe('ready');
    });

    it("writes nothing for a second replica's ready, and counts it nowhere", async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      const calls = record(t.deps.store as MemoryStore);

      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });

      // The mark is refused (already there), one read says so, and that is all.
      expect(calls).toEqual(['update SESSION', 'query SESSION']);
      const parent = await t.deps.store.get({ pk: `SESSION#${s.id}`, sk: 'SESSION' });
      expect(parent!.readyChildren).toBe(1);
    });

    it('counts a repeated ready answer once', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });

      expect((await readSession(t.deps.store, s.id))!.state).toBe('pending');
      await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });
      expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
    });

    it('keeps a marked child ready when a child.failed follows, as an answered one always was', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'west', {
        sessionId: s.id,
        ready: false,
        error: { code: 'late', message: 'late' },
      });
      await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

      expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
    });

    it('closes a child that is marked but whose item still says pending', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });

      await endSession(t.deps, s.id, 'test');

      const after = (await readSession(t.deps.store, s.id))!;
      expect(after.state).toBe('closed');
      expect(Object.values(after.clusters).map((c) => c.state)).toEqual(['closed', 'closed', 'closed']);
      expect(t.messenger.sentTypes('west')).toContain('child.close');
    });

    it('shows a marked child that disconnected as disconnected, and ready again once it answers', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onClusterDisconnected(t.deps, 'west');
      expect((await readSession(t.deps.store, s.id))!.clusters.west!.state).toBe('disconnected');

      await onClusterConnected(t.deps, 'west');
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });

      const after = (await readSession(t.deps.store, s.id))!;
      expect(after.state).toBe('ready');
      expect(after.clusters.west!.state).toBe('ready');
    });

    it('times out only the children that have not answered', async () => {
      const u = setup(['east', 'west', 'south'], { childReadyTimeoutMs: 1_000 });
      const s = await createSession(u.deps, 'developer:ann', req({ service: 'api', allowPartial: true }));
      await onChildAnswer(u.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(u.deps, 'west', { sessionId: s.id, ready: true });
      u.advance(2_000);

      await expireSessions(u.deps);

      const after = (await readSession(u.deps.store, s.id))!;
      expect(after.state).toBe('ready');
      expect(after.clusters.south!.state).toBe('failed');
      expect(after.clusters.west!.state).toBe('ready');
    });

    it('settles a session written before marks with two writes per answer, as before', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await t.deps.store.update({ pk: `SESSION#${s.id}`, sk: 'SESSION' }, {}, { remove: ['marksReady'] });
      const calls = record(t.deps.store as MemoryStore);

      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });

      expect(calls).toEqual(['update SESSION', 'query SESSION', 'update CHILD#west', 'update SESSION']);
      expect((await childItem(s.id, 'west'))!.state).toBe('ready');
      await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });
      expect((await readSession(t.deps.store, s.id))!.state).toBe('ready');
    });

    it('settles at the creation timeout a session every child answered but no answer settled (a deploy: old and new code)', async () => {
      const u = setup(['east', 'west', 'south'], { childReadyTimeoutMs: 1_000 });
      const s = await createSession(u.deps, 'developer:ann', req({ service: 'api' }));
      // New code marks two answers on the parent; older code wrote the third on its child item
      // and, reading the marked children as pending, did not settle.
      await onChildAnswer(u.deps, 'east', { sessionId: s.id, ready: true });
      await onChildAnswer(u.deps, 'west', { sessionId: s.id, ready: true });
      await u.deps.store.update(
        { pk: `SESSION#${s.id}`, sk: 'CHILD#south' },
        { state: 'ready' },
        { conditions: [{ type: 'equals', attr: 'state', value: 'pending' }] },
      );
      expect((await readSession(u.deps.store, s.id))!.state).toBe('pending');
      u.advance(2_000);

      await expireSessions(u.deps);

      const after = (await readSession(u.deps.store, s.id))!;
      expect(after.state).toBe('ready');
      expect(Object.values(after.clusters).map((c) => c.state)).toEqual(['ready', 'ready', 'ready']);
    });

    it('never shows the marks in the session view', async () => {
      const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
      await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
      await onClusterDisconnected(t.deps, 'south');
      const view = (await readSession(t.deps.store, s.id))! as unknown as Record<string, unknown>;
      expect(Object.keys(view).filter((k) => k.includes('#') || k === 'marksReady')).toEqual([]);
    });
  });

  it('refuses creation naming a cluster that is not connected, after recording the session', async () => {
    const u = setup(['east', 'south']);
    const err = await createSession(u.deps, 'developer:ann', req({ service: 'api' })).catch((e) => e);
    expect(err).toBeInstanceOf(ClusterUnavailableError);
    expect(err.message).toContain("cluster 'west' is not connected");
    expect(err.message).toContain('--allow-partial');
    const [s] = await listSessions(u.deps.store, 'developer:ann');
    expect(s!.state).toBe('closed');
    expect(s!.error?.code).toBe('cluster_unavailable');
  });

  it('with allowPartial goes on without an unavailable workload cluster but never without the default', async () => {
    const u = setup(['east', 'south']);
    const s = await createSession(u.deps, 'developer:ann', req({ service: 'api', allowPartial: true }));
    await onChildAnswer(u.deps, 'east', { sessionId: s.id, ready: true });
    await onChildAnswer(u.deps, 'south', { sessionId: s.id, ready: true });
    expect((await readSession(u.deps.store, s.id))!.state).toBe('ready');

    const v = setup(['west', 'south']);
    const err = await createSession(
      v.deps,
      'developer:ann',
      req({ service: 'api', allowPartial: true }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ClusterUnavailableError);
    expect(err.message).toContain("'east'");
  });

  it('ignores answers for a closed session and duplicate answers', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await endSession(t.deps, s.id, 'deleted');
    await onChildAnswer(t.deps, 'east', { sessionId: s.id, ready: true });
    const after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('closed');
    expect(after.clusters.east!.state).toBe('closed');
  });

  it('cleanup is idempotent and finishes on a later run when a cluster was away', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    for (const c of ['east', 'west', 'south'])
      await onChildAnswer(t.deps, c, { sessionId: s.id, ready: true });
    t.messenger.connected.delete('west');

    await endSession(t.deps, s.id, 'deleted');
    let after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('closed');
    expect(after.clusters.west!.state).toBe('closing');
    expect(after.clusters.east!.state).toBe('closed');

    // west returns: its hello finishes the cleanup
    t.messenger.connected.add('west');
    await onClusterConnected(t.deps, 'west');
    after = (await readSession(t.deps.store, s.id))!;
    expect(after.clusters.west!.state).toBe('closed');
    expect(t.messenger.sentTypes('west')).toEqual(['child.create', 'child.close']);

    // and a second end changes nothing and sends nothing more
    await endSession(t.deps, s.id, 'deleted again');
    expect(t.messenger.sentTypes('east')).toEqual(['child.create', 'child.close']);
  });

  it('marks children of a dropped cluster disconnected, tells the client, and re-creates them on return', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    for (const c of ['east', 'west', 'south'])
      await onChildAnswer(t.deps, c, { sessionId: s.id, ready: true });
    await t.deps.store.update({ pk: `SESSION#${s.id}`, sk: 'SESSION' }, { clientConnectionId: 'cli-1' });
    t.messenger.liveConnections.add('cli-1');

    t.messenger.connected.delete('west');
    await onClusterDisconnected(t.deps, 'west');
    let after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('ready');
    expect(after.clusters.west!.state).toBe('disconnected');
    const status = t.messenger.toConnections.at(-1)!.message;
    expect(status).toMatchObject({ type: 'session.status', clusters: { west: { state: 'disconnected' } } });

    t.messenger.connected.add('west');
    expect(await onClusterConnected(t.deps, 'west')).toBe(1);
    await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
    after = (await readSession(t.deps.store, s.id))!;
    expect(after.clusters.west!.state).toBe('ready');
    expect(t.messenger.toConnections.at(-1)!.message).toMatchObject({
      clusters: { west: { state: 'ready' } },
    });
  });

  it('expires sessions whose heartbeats stopped, and keeps those that beat', async () => {
    const a = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    const b = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    t.advance(50_000);
    await heartbeat(t.deps.store, b.id, t.deps.now(), t.deps.settings);
    t.advance(20_000);

    const result = await expireSessions(t.deps);

    expect(result.expired).toBe(1);
    expect((await readSession(t.deps.store, a.id))!).toMatchObject({
      state: 'closed',
      closedReason: 'expired: no heartbeat',
    });
    expect((await readSession(t.deps.store, b.id))!.state).toBe('pending');
  });

  it('keeps one developer out of another one’s session', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await expect(sessionForOwner(t.deps.store, s.id, 'developer:bob')).rejects.toBeInstanceOf(NotFoundError);
    expect((await sessionForOwner(t.deps.store, s.id, 'developer:ann')).id).toBe(s.id);
    expect(await listSessions(t.deps.store, 'developer:bob')).toEqual([]);
  });

  it('says gone for a session that cannot be resumed', async () => {
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await endSession(t.deps, s.id, 'deleted');
    expect(() => assertResumable((() => ({ ...s, state: 'closed' as const }))())).toThrow(GoneError);
  });

  it('validates the request at the edge', () => {
    expect(CreateSessionSchema.safeParse({ colour: 'red' }).success).toBe(false);
    expect(
      CreateSessionSchema.safeParse({ splits: [{ queue: 'orders', mode: 'steal', filter: {} }] }).success,
    ).toBe(false);
    const redos = CreateSessionSchema.safeParse({
      splits: [{ queue: 'orders', mode: 'steal', filter: { a: '(a+)+\\1' } }],
    });
    expect(redos.success).toBe(false);
    expect(CreateSessionSchema.safeParse({ service: 'Bad_Name' }).success).toBe(false);
  });
});

describe('every ending releases what the session holds', () => {
  const SPLIT = { splits: [{ queue: 'orders', mode: 'steal', filter: { customer: '^acme$' } }] };
  const ready = async (t: ReturnType<typeof setup>, id: string) => {
    for (const c of ['east', 'west', 'south']) await onChildAnswer(t.deps, c, { sessionId: id, ready: true });
  };
  /** The one end state: closed with its reason, released, every child closed, the client's connection closed. */
  const expectEnded = async (t: ReturnType<typeof setup>, id: string, reason: string | RegExp) => {
    const s = (await readSession(t.deps.store, id))!;
    expect(s.state).toBe('closed');
    expect(s.closedReason).toMatch(reason);
    expect(t.features.released).toContain(id);
    expect(await t.features.holders()).not.toContain(id);
    expect(Object.values(s.clusters).map((c) => c.state)).toEqual(['closed', 'closed', 'closed']);
    expect(s.clientConnectionId).toBeUndefined();
  };

  it.each([
    [
      'DELETE',
      async (t: ReturnType<typeof setup>, id: string) => {
        await endSession(t.deps, id, 'deleted by its owner');
      },
      'deleted by its owner',
    ],
    [
      'expiry without heartbeat',
      async (t: ReturnType<typeof setup>) => {
        t.advance(61_000);
        expect((await expireSessions(t.deps)).expired).toBe(1);
      },
      'expired: no heartbeat',
    ],
    [
      'a cluster that fails its child',
      async (t: ReturnType<typeof setup>, id: string) => {
        await onChildAnswer(t.deps, 'east', { sessionId: id, ready: true });
        await onChildAnswer(t.deps, 'south', { sessionId: id, ready: true });
        await onChildAnswer(t.deps, 'west', {
          sessionId: id,
          ready: false,
          error: { code: 'x', message: 'no' },
        });
      },
      'a cluster failed',
    ],
  ])('%s', async (_path, end, reason) => {
    const t = setup();
    const s = await createSession(t.deps, 'developer:ann', req(SPLIT));
    if (!/fails/.test(_path)) await ready(t, s.id);
    await t.deps.store.update({ pk: `SESSION#${s.id}`, sk: 'SESSION' }, { clientConnectionId: 'cli-1' });
    t.messenger.liveConnections.add('cli-1');

    await end(t, s.id);

    await expectEnded(t, s.id, reason);
    expect(t.messenger.closed).toEqual(['cli-1']);
  });

  it('a failed creation (a cluster not connected) releases the splits it registered', async () => {
    const t = setup(['east', 'south']);
    await expect(createSession(t.deps, 'developer:ann', req(SPLIT))).rejects.toBeInstanceOf(
      ClusterUnavailableError,
    );
    const [s] = await listSessions(t.deps.store, 'developer:ann');
    expect(t.features.released).toEqual([s!.id]);
    expect((await readSession(t.deps.store, s!.id))!.closedReason).toBe('a cluster was unavailable');
  });

  it('a default cluster that never answers: the creation times out, fails naming it, and is released', async () => {
    const t = setup(undefined, { childReadyTimeoutMs: 30_000 });
    const s = await createSession(t.deps, 'developer:ann', req(SPLIT));
    await onChildAnswer(t.deps, 'west', { sessionId: s.id, ready: true });
    await onChildAnswer(t.deps, 'south', { sessionId: s.id, ready: true });
    t.advance(29_000);
    expect((await expireSessions(t.deps)).timedOut).toBe(0);

    t.advance(2_000);
    expect((await expireSessions(t.deps)).timedOut).toBe(1);

    await expectEnded(t, s.id, 'a cluster failed');
    const after = (await readSession(t.deps.store, s.id))!;
    expect(after.error).toMatchObject({ code: 'cluster_timeout' });
    expect(after.error!.message).toContain("cluster 'east' did not answer in 30 s");
  });

  it('a router that dies half-way through an ending: the next reconciler run finishes the release', async () => {
    const t = setup();
    const s = await createSession(t.deps, 'developer:ann', req(SPLIT));
    await ready(t, s.id);
    t.features.failNextRelease = true;

    await expect(endSession(t.deps, s.id, 'deleted by its owner')).rejects.toThrow('the router died here');
    let after = (await readSession(t.deps.store, s.id))!;
    expect(after.state).toBe('closed');
    expect(await t.features.holders()).toContain(s.id);
    expect(after.clusters.east!.state).toBe('ready'); // nothing was closed yet

    expect((await expireSessions(t.deps)).finished).toBe(1);

    await expectEnded(t, s.id, 'deleted by its owner');
    after = (await readSession(t.deps.store, s.id))!;
    expect(t.messenger.sentTypes('east')).toEqual(['child.create', 'child.close']);
    // Nothing is left: the next run has nothing to finish.
    expect((await expireSessions(t.deps)).finished).toBe(0);
  });

  it('releases before it closes the children, so no registration outlives the closes', async () => {
    const t = setup();
    const s = await createSession(t.deps, 'developer:ann', req(SPLIT));
    await ready(t, s.id);
    const order: string[] = [];
    const release = t.features.release.bind(t.features);
    t.features.release = async (x) => {
      order.push('release');
      await release(x);
    };
    const toCluster = t.messenger.toCluster.bind(t.messenger);
    t.messenger.toCluster = async (c, m) => {
      order.push((m as { type: string }).type);
      return toCluster(c, m);
    };
    await endSession(t.deps, s.id, 'deleted');
    expect(order).toEqual(['release', 'child.close', 'child.close', 'child.close']);
  });
});

describe('attachClient: one client connection per session, the newest', () => {
  it('says which connection each new one replaced, and refuses an ended session', async () => {
    const t = setup();
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    const attach = (id: string) => attachClient(t.deps.store, s.id, id, t.deps.now(), t.deps.settings);

    expect(await attach('c1')).toEqual({});
    expect(await attach('c1')).toEqual({}); // the same connection again replaces nothing
    expect(await attach('c2')).toEqual({ replaced: 'c1' });
    expect((await readSession(t.deps.store, s.id))!.clientConnectionId).toBe('c2');

    await endSession(t.deps, s.id, 'deleted');
    expect(await attach('c3')).toBeUndefined();
  });

  it('of two arriving together, each learns the one it replaced: the older of them is the one closed', async () => {
    const t = setup();
    const s = await createSession(t.deps, 'developer:ann', req({ service: 'api' }));
    await attachClient(t.deps.store, s.id, 'c1', t.deps.now(), t.deps.settings);

    const [a, b] = await Promise.all([
      attachClient(t.deps.store, s.id, 'c2', t.deps.now(), t.deps.settings),
      attachClient(t.deps.store, s.id, 'c3', t.deps.now(), t.deps.settings),
    ]);

    const replaced = [a!.replaced, b!.replaced].sort();
    const current = (await readSession(t.deps.store, s.id))!.clientConnectionId!;
    // c1 was replaced by whichever came first, and that one by the other: the current one is never replaced.
    expect(replaced).toContain('c1');
    expect(replaced).not.toContain(current);
    expect(new Set([...replaced, current])).toEqual(new Set(['c1', 'c2', 'c3']));
  });
});
