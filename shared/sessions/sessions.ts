import { randomBytes } from 'node:crypto';
import type { Settings } from '../config/settings.ts';
import { defaultCluster, type Topology, workloadClusters } from '../config/topology.ts';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store, StoredItem } from '../store/store.ts';
import { type Change, updateOnVersion } from '../store/versioned.ts';
import {
  type ChildState,
  type ChildView,
  type CreateSessionRequest,
  childId,
  type SessionState,
  type SessionView,
  type Subscription,
} from './model.ts';

/** Store operations on sessions. Every transition is a conditional update on the expected state. */

export function newSessionId(): string {
  // 12 lowercase base32-ish chars: short enough for queue names, 60 bits of randomness.
  return randomBytes(8)
    .toString('base64url')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '')
    .slice(0, 10)
    .padEnd(10, '0');
}

/** Which clusters a session spans, with the roles each plays in it. */
export function sessionClusters(topology: Topology): Map<string, ('workload' | 'default')[]> {
  const out = new Map<string, ('workload' | 'default')[]>();
  for (const c of workloadClusters(topology)) out.set(c.id, ['workload']);
  const d = defaultCluster(topology).id;
  out.set(d, [...(out.get(d) ?? []), 'default']);
  return out;
}

/** Writes the parent and every child before any side effect, so a crash leaves nothing unknown. */
export async function writeSession(
  store: Store,
  args: {
    id: string;
    owner: string;
    req: CreateSessionRequest;
    topology: Topology;
    settings: Settings;
    now: number;
  },
): Promise<SessionView> {
  const { id, owner, req, topology, settings, now } = args;
  const clusters = sessionClusters(topology);
  const parent = await store.put(
    {
      ...keys.session(id),
      kind: KINDS.session,
      id,
      owner,
      state: 'pending' satisfies SessionState,
      ...(req.service ? { service: req.service } : {}),
      ...(req.label ? { label: req.label } : {}),
      ...(req.splits ? { splits: req.splits } : {}),
      ...(req.branches ? { branches: req.branches } : {}),
      allowPartial: req.allowPartial,
      subscriptions: [],
      childCount: clusters.size,
      readyChildren: 0,
      [MARKS_READY]: true,
      createdAt: now,
      updatedAt: now,
      heartbeatAt: now,
      expiresAt: now + settings.sessionTimeoutMs,
    },
    { conditions: [{ type: 'absent' }] },
  );
  // The parent's `absent` made the id this session's: nobody else can hold its children's keys,
  // so they go in one batch (one call for up to 25 clusters), not one conditional put each.
  const children = await store.putAll(
    [...clusters].map(([clusterId, roles]) => ({
      ...keys.child(id, clusterId),
      kind: KINDS.child,
      sessionId: id,
      childId: childId(id, clusterId),
      clusterId,
      roles,
      state: 'pending' satisfies ChildState,
      updatedAt: now,
    })),
  );
  // What was just written is the session: no read of the partition back.
  return toView(
    parent,
    children.sort((a, b) => (a.sk < b.sk ? -1 : 1)),
  );
}

/**
 * A child's first `ready` while its session is pending is recorded on the parent, in the same
 * conditional write as the count (`ready#<cluster>` = when), not on the child item: one write per
 * answer instead of two on the path every session waits for. The child item stays `pending`
 * until the session settles, which writes it (`materializeReadyChildren`); until then a pending
 * child with a mark reads as `ready`. Sessions written before this carry no `marksReady` and
 * take the two writes.
 */
export const MARKS_READY = 'marksReady';
export const readyMark = (clusterId: string): string => `ready#${clusterId}`;
/**
 * Set on a pending parent when a child dropped before its first answer: that child's item says
 * `disconnected`, so its answer must change the item (from `disconnected`), not mark the parent.
 */
export const downMark = (clusterId: string): string => `down#${clusterId}`;

function toChild(item: StoredItem, parent?: StoredItem): ChildView {
  const stored = item.state as ChildState;
  const markedAt = stored === 'pending' ? parent?.[readyMark(item.clusterId as string)] : undefined;
  return {
    childId: item.childId as string,
    clusterId: item.clusterId as string,
    roles: item.roles as ChildView['roles'],
    ...(typeof markedAt === 'number'
      ? { state: 'ready' as const, stored, updatedAt: markedAt }
      : { state: stored, updatedAt: item.updatedAt as number }),
    ...(item.error ? { error: item.error as ChildView['error'] } : {}),
  };
}

function toView(parent: StoredItem, children: StoredItem[]): SessionView {
  const { pk: _pk, sk: _sk, kind: _kind, [MARKS_READY]: _marks, ...rest } = parent;
  for (const name of Object.keys(rest)) {
    if (name.startsWith('ready#') || name.startsWith('down#')) delete rest[name];
  }
  return {
    ...(rest as unknown as SessionView),
    subscriptions: (parent.subscriptions as Subscription[] | undefined) ?? [],
    clusters: Object.fromEntries(children.map((c) => [c.clusterId as string, toChild(c, parent)])),
  };
}

export async function readSession(store: Store, id: string): Promise<SessionView | undefined> {
  const items = await store.query(keys.session(id).pk);
  const parent = items.find((i) => i.sk === 'SESSION');
  if (!parent) return undefined;
  return toView(
    parent,
    items.filter((i) => i.sk.startsWith('CHILD#')),
  );
}

/** Sessions of one owner (or all), newest first. Two index reads however many sessions there are. */
export async function listSessions(store: Store, owner?: string): Promise<SessionView[]> {
  const [parents, children] = await Promise.all([
    store.listByKind(KINDS.session),
    store.listByKind(KINDS.child),
  ]);
  const bySession = new Map<string, StoredItem[]>();
  for (const c of children) {
    const list = bySession.get(c.sessionId as string) ?? [];
    list.push(c);
    bySession.set(c.sessionId as string, list);
  }
  return parents
    .filter((p) => owner === undefined || p.owner === owner)
    .map((p) => toView(p, bySession.get(p.id as string) ?? []))
    .sort((a, b) => b.createdAt - a.createdAt);
}

export async function childrenOfCluster(
  store: Store,
  clusterId: string,
): Promise<(ChildView & { sessionId: string })[]> {
  const children = await store.listByKind(KINDS.child);
  return children
    .filter((c) => c.clusterId === clusterId)
    .map((c) => ({ ...toChild(c), sessionId: c.sessionId as string }));
}

/** Moves a child from one of `from` to `to`; returns false when it was not in one of `from` (a lost race). */
export async function setChildState(
  store: Store,
  sessionId: string,
  clusterId: string,
  to: ChildState,
  from: ChildState[],
  now: number,
  error?: { code: string; message: string },
): Promise<boolean> {
  try {
    await store.update(
      keys.child(sessionId, clusterId),
      { state: to, updatedAt: now, ...(error ? { error } : {}) },
      { conditions: [{ type: 'in', attr: 'state', values: from }], ...(error ? {} : { remove: ['error'] }) },
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}

export async function setSessionState(
  store: Store,
  sessionId: string,
  to: SessionState,
  from: SessionState[],
  now: number,
  extra: Record<string, unknown> = {},
): Promise<boolean> {
  try {
    await store.update(
      keys.session(sessionId),
      { state: to, updatedAt: now, ...extra },
      { conditions: [{ type: 'in', attr: 'state', values: from }] },
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}

/** Sets attributes of a live session (not closed); false when the session is closed or gone. */
export async function updateLiveSession(
  store: Store,
  sessionId: string,
  set: Record<string, unknown>,
  opts: { remove?: string[] } = {},
): Promise<boolean> {
  try {
    await store.update(keys.session(sessionId), set, {
      conditions: [{ type: 'in', attr: 'state', values: ['pending', 'ready'] }],
      ...opts,
    });
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}

export function heartbeat(
  store: Store,
  sessionId: string,
  now: number,
  settings: Settings,
): Promise<boolean> {
  return updateLiveSession(store, sessionId, {
    heartbeatAt: now,
    expiresAt: now + settings.sessionTimeoutMs,
  });
}

/**
 * Read-modify-write of the subscription list, conditional on the version read: two concurrent
 * subscribes from one session (two Lambda instances) must not lose one another.
 */
export async function editSubscriptions(
  store: Store,
  sessionId: string,
  edit: (subs: Subscription[]) => Subscription[],
): Promise<Subscription[] | undefined> {
  return updateOnVersion(
    store,
    keys.session(sessionId),
    (item): Change<Subscription[] | undefined> => {
      if (!item || (item.state !== 'pending' && item.state !== 'ready')) return { skip: undefined };
      const next = edit((item.subscriptions as Subscription[] | undefined) ?? []);
      return { write: { subscriptions: next }, result: next };
    },
    { what: `session ${sessionId}: its subscriptions` },
  );
}

/**
 * Makes `connectionId` the session's client (a resume, or a second CLI for the same session) and
 * returns the connection it replaced, which the caller closes. Conditional on the version read,
 * so of two connections arriving together each learns exactly the one it replaced, and the older
 * of the two is closed, never the newer. `undefined` when the session is no longer live.
 */
export async function attachClient(
  store: Store,
  sessionId: string,
  connectionId: string,
  now: number,
  settings: Settings,
): Promise<{ replaced?: string } | undefined> {
  return updateOnVersion(
    store,
    keys.session(sessionId),
    (item): Change<{ replaced?: string } | undefined> => {
      if (!item || (item.state !== 'pending' && item.state !== 'ready')) return { skip: undefined };
      const previous = item.clientConnectionId as string | undefined;
      return {
        write: {
          clientConnectionId: connectionId,
          heartbeatAt: now,
          expiresAt: now + settings.sessionTimeoutMs,
        },
        result: previous && previous !== connectionId ? { replaced: previous } : {},
      };
    },
    { what: `session ${sessionId}: its client` },
  );
}
