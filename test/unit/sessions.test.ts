import { beforeEach, describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { ClusterUnavailableError, GoneError, NotFoundError } from '../../shared/errors/errors.ts';
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
import { heartbeat, listSessions, readSession } from '../../shared/sessions/sessions.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { RecordingMessenger } from '../helpers/recording-messenger.ts';

const topology = parseTopology({
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
    { id: 'south', roles: ['workload'] },
  ],
});

function setup(connected = ['east', 'west', 'south']) {
  let now = 1_000_000;
  const messenger = new RecordingMessenger(new Set(connected));
  const deps: SessionDeps = {
    store: new MemoryStore(),
    topology,
    settings: parseSettings({ sessionTimeoutMs: 60_000 }),
    messenger,
    now: () => now,
  };
  return { deps, messenger, advance: (ms: number) => (now += ms) };
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
