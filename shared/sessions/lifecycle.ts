import type { Settings } from '../config/settings.ts';
import type { Topology } from '../config/topology.ts';
import { ClusterUnavailableError, ConditionFailedError, GoneError, NotFoundError } from '../errors/errors.ts';
import type { Messenger } from '../messaging/messenger.ts';
import { keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';
import type { SessionFeatures } from './features.ts';
import type { ChildState, CreateSessionRequest, SessionView } from './model.ts';
import {
  childrenOfCluster,
  downMark,
  listSessions,
  MARKS_READY,
  newSessionId,
  readSession,
  readyMark,
  setChildState,
  setSessionState,
  updateLiveSession,
  writeSession,
} from './sessions.ts';

export interface SessionDeps {
  store: Store;
  topology: Topology;
  settings: Settings;
  messenger: Messenger;
  now: () => number;
  /** Required: every ending releases what the session holds (see features.ts). */
  features: SessionFeatures;
}

const LIVE_CHILD: ChildState[] = ['pending', 'ready', 'disconnected'];
/** A child whose cluster did not answer in `childReadyTimeoutMs` (see `expireSessions`). */
const CLUSTER_TIMEOUT = 'cluster_timeout';

export async function childSpec(deps: SessionDeps, s: SessionView, clusterId: string) {
  const child = s.clusters[clusterId]!;
  return {
    sessionId: s.id,
    childId: child.childId,
    roles: child.roles,
    ...(s.service ? { service: s.service } : {}),
    subscriptions: s.subscriptions,
    ...(s.outputQueues ? { outputQueues: s.outputQueues } : {}),
    ...(s.branches ? { branches: s.branches } : {}),
    ...(await deps.features.childSpecExtras(s, clusterId)),
  };
}

/** To every replica of the cluster, or (`replicaTag`) to the one replica that just said hello. */
async function sendChildCreate(
  deps: SessionDeps,
  s: SessionView,
  clusterId: string,
  replicaTag?: string,
): Promise<boolean> {
  const msg = {
    v: 1,
    type: 'child.create',
    sessionId: s.id,
    childId: s.clusters[clusterId]!.childId,
    spec: await childSpec(deps, s, clusterId),
  };
  return replicaTag
    ? deps.messenger.toReplica(clusterId, replicaTag, msg)
    : deps.messenger.toCluster(clusterId, msg);
}

export function statusMessage(s: SessionView) {
  return {
    v: 1,
    type: 'session.status',
    sessionId: s.id,
    state: s.state,
    clusters: Object.fromEntries(
      Object.values(s.clusters).map((c) => [
        c.clusterId,
        { state: c.state, roles: c.roles, ...(c.error ? { error: c.error } : {}) },
      ]),
    ),
    ...(s.outputQueues ? { outputQueues: s.outputQueues } : {}),
    ...(s.error ? { error: s.error } : {}),
  };
}

async function notifyClient(deps: SessionDeps, s: SessionView): Promise<void> {
  if (s.clientConnectionId) await deps.messenger.toConnection(s.clientConnectionId, statusMessage(s));
}

/**
 * POST /v1/sessions. Everything is written first (pending), then each cluster is asked to create
 * its child. A cluster that is not connected fails the session with an error naming it, unless
 * the request allows a partial session (the default cluster is never optional).
 */
export async function createSession(
  deps: SessionDeps,
  owner: string,
  req: CreateSessionRequest,
): Promise<SessionView> {
  const { store, topology, settings } = deps;
  const id = newSessionId();
  let s = await writeSession(store, { id, owner, req, topology, settings, now: deps.now() });
  try {
    if (s.branches) await deps.features.attachBranches(s);
    if (s.splits?.length) {
      const outputQueues = await deps.features.registerSplits(s);
      s = { ...s, outputQueues };
      // Ended while its queues were created (DELETE, Ctrl-C during set-up): no child.create may
      // follow the child.close the ending sent, or a connector would keep a child nobody closes.
      if (!(await updateLiveSession(store, id, { outputQueues, updatedAt: deps.now() }))) {
        return (await readSession(store, id)) ?? s;
      }
    }
  } catch (err) {
    const e = err as { code?: string; message: string };
    await setSessionState(store, id, 'failed', ['pending'], deps.now(), {
      error: { code: e.code ?? 'internal', message: e.message },
    });
    await endSession(deps, id, 'creation failed');
    throw err;
  }

  const unavailable: string[] = [];
  await Promise.all(
    Object.keys(s.clusters).map(async (clusterId) => {
      if (!(await sendChildCreate(deps, s, clusterId))) {
        unavailable.push(clusterId);
        await setChildState(store, id, clusterId, 'failed', ['pending'], deps.now(), {
          code: 'cluster_unavailable',
          message: `cluster '${clusterId}' is not connected`,
        });
      }
    }),
  );
  // Settled children count towards readiness (with allowPartial a failed one is not awaited):
  // one write for all of them, not one per cluster on the parent. An answer counted before it
  // may not see the count complete; the settle below decides from the children themselves.
  if (unavailable.length > 0) {
    await store.update(keys.session(id), {}, { add: { failedChildren: unavailable.length } });
  }
  const defaultId = Object.values(s.clusters).find((c) => c.roles.includes('default'))!.clusterId;
  if (unavailable.length > 0 && (!s.allowPartial || unavailable.includes(defaultId))) {
    unavailable.sort();
    const names = unavailable.map((c) => `'${c}'`).join(', ');
    const many = unavailable.length > 1;
    const err = new ClusterUnavailableError(
      unavailable.join(', '),
      `cannot create the session: cluster${many ? 's' : ''} ${names} ${many ? 'are' : 'is'} not connected. ` +
        `Start ${many ? 'their connectors' : 'its connector'} and retry` +
        (unavailable.includes(defaultId) ? '' : ', or allow a partial session (--allow-partial)'),
    );
    await setSessionState(store, id, 'failed', ['pending'], deps.now(), {
      error: { code: err.code, message: err.message },
    });
    await endSession(deps, id, 'a cluster was unavailable');
    throw err;
  }
  // Every cluster was asked: its answers count towards `ready`, and the one that completes the
  // count settles. Only clusters counted here as unavailable (a partial session) may have left
  // the count complete already, with no answer to come that would settle it.
  if (unavailable.length === 0) return s;
  const after = await settleSession(deps, id);
  return after ?? s;
}

/**
 * Derives the parent's state from its children after any child changed. pending -> ready when
 * every child is ready (with allowPartial: every child that has not failed, and the default
 * cluster and at least one workload among them); pending -> failed otherwise once no child is
 * pending. Conditional on `pending`, so concurrent settlers agree.
 */
export async function settleSession(deps: SessionDeps, sessionId: string): Promise<SessionView | undefined> {
  const s = await readSession(deps.store, sessionId);
  if (s?.state !== 'pending') return s;
  const children = Object.values(s.clusters);
  if (children.some((c) => c.state === 'pending')) return s;
  const failed = children.filter((c) => c.state !== 'ready');
  const ok = children.filter((c) => c.state === 'ready');
  const defaultOk = ok.some((c) => c.roles.includes('default'));
  const workloadOk = ok.some((c) => c.roles.includes('workload'));
  const ready = failed.length === 0 || (s.allowPartial && defaultOk && workloadOk);
  const now = deps.now();
  if (ready) {
    if (await setSessionState(deps.store, sessionId, 'ready', ['pending'], now)) {
      // This settler made it ready: it knows the result without reading the partition again
      // (n + 1 items with n clusters, on the path every session waits for).
      const after: SessionView = { ...s, state: 'ready', updatedAt: now, version: s.version + 1 };
      await notifyClient(deps, after);
      await materializeReadyChildren(deps, after);
      return after;
    }
  } else {
    const first = failed[0]!;
    await setSessionState(deps.store, sessionId, 'failed', ['pending'], now, {
      error: {
        code: first.error?.code ?? 'child_failed',
        message: failed.map((c) => `${c.clusterId}: ${c.error?.message ?? c.state}`).join('; '),
      },
    });
    await endSession(deps, sessionId, 'a cluster failed');
  }
  const after = await readSession(deps.store, sessionId);
  if (after) await notifyClient(deps, after);
  return after;
}

/**
 * After the session is ready, children marked ready on the parent get it on their own items too,
 * each conditional on still being `pending` (a child that disconnected since keeps that). Off the
 * path the session waited for; a router that dies before it leaves children that still read as
 * ready from their marks.
 */
async function materializeReadyChildren(deps: SessionDeps, s: SessionView): Promise<void> {
  await Promise.all(
    Object.values(s.clusters)
      .filter((c) => c.state === 'ready' && c.stored === 'pending')
      .map((c) => setChildState(deps.store, s.id, c.clusterId, 'ready', ['pending'], c.updatedAt)),
  );
}

/** A connector answered child.ready / child.failed. Answers for a closed session are ignored. */
export async function onChildAnswer(
  deps: SessionDeps,
  clusterId: string,
  answer: { sessionId: string; ready: boolean; error?: { code: string; message: string } },
): Promise<void> {
  const { store } = deps;
  const now = deps.now();
  if (answer.ready) {
    const marked = await markChildReady(deps, answer.sessionId, clusterId);
    if (marked === 'counted') return;
    if (marked === 'completes') {
      // Falls through to the settle below.
    } else if ((await readSession(store, answer.sessionId))?.clusters[clusterId]?.state === 'ready') {
      // A repeat (another replica of the cluster, a re-sent create): nothing changes, nothing is
      // counted twice.
      return;
    } else if (await setChildState(store, answer.sessionId, clusterId, 'ready', ['pending'], now)) {
      // Not markable (a session no longer pending, one written before marks, a repeated answer):
      // the child item itself, counted on the parent as before.
      if (!(await completesReadyCount(deps, answer.sessionId))) return;
    } else if (await setChildState(store, answer.sessionId, clusterId, 'ready', ['disconnected'], now)) {
      // Back from a disconnect: counted too while the session is pending (a child that dropped
      // before its first answer never was), so the answers still to come complete the count. One
      // counted before is counted twice, which only settles sooner: the settle decides from the
      // children's states.
      await completesReadyCount(deps, answer.sessionId);
    } else {
      return;
    }
  } else {
    // A child that answered ready stays ready, as before marks: its item may still say pending.
    const s = await readSession(store, answer.sessionId);
    const child = s?.clusters[clusterId];
    if (!child || child.state === 'ready') return;
    if (
      !(await setChildState(
        store,
        answer.sessionId,
        clusterId,
        'failed',
        ['pending', 'disconnected'],
        now,
        answer.error,
      ))
    ) {
      return;
    }
    // Counted, as an unavailable cluster is at creation: the answers still to come then complete
    // the count and settle the session, instead of leaving it pending until it expires.
    await countFailedChild(deps, answer.sessionId);
  }
  const s = await settleSession(deps, answer.sessionId);
  // A ready session whose child came back: settle changes nothing, but the client wants to know.
  if (s && s.state === 'ready') await notifyClient(deps, s);
}

/**
 * A child's first `ready` while its session is pending, as one conditional write on the parent:
 * the mark (`ready#<cluster>`) and the count together, at most once per child. `completes` when
 * this answer completes the count (settle now), `counted` when others are still to come,
 * `refused` when the parent does not take marks (not pending, written before marks, or this
 * child already marked): the caller then writes the child item as before.
 */
async function markChildReady(
  deps: SessionDeps,
  sessionId: string,
  clusterId: string,
): Promise<'completes' | 'counted' | 'refused'> {
  const now = deps.now();
  try {
    const parent = await deps.store.update(
      keys.session(sessionId),
      { updatedAt: now, [readyMark(clusterId)]: now },
      {
        add: { readyChildren: 1 },
        conditions: [
          { type: 'equals', attr: 'state', value: 'pending' },
          { type: 'equals', attr: MARKS_READY, value: true },
          { type: 'lacks', attr: readyMark(clusterId) },
          { type: 'lacks', attr: downMark(clusterId) },
        ],
      },
    );
    const settled = ((parent.readyChildren as number) ?? 0) + ((parent.failedChildren as number) ?? 0);
    return settled >= (parent.childCount as number) ? 'completes' : 'counted';
  } catch (err) {
    if (err instanceof ConditionFailedError) return 'refused';
    throw err;
  }
}

/** Counts one child's first ready answer; true when the session should settle now. */
async function completesReadyCount(deps: SessionDeps, sessionId: string): Promise<boolean> {
  try {
    const parent = await deps.store.update(
      keys.session(sessionId),
      { updatedAt: deps.now() },
      { add: { readyChildren: 1 }, conditions: [{ type: 'equals', attr: 'state', value: 'pending' }] },
    );
    // Sessions written before the count existed have no childCount: settle as before.
    const settled = ((parent.readyChildren as number) ?? 0) + ((parent.failedChildren as number) ?? 0);
    return typeof parent.childCount !== 'number' || settled >= parent.childCount;
  } catch (err) {
    // No longer pending (failed, closed, or already ready): settle says what the client must hear.
    if (err instanceof ConditionFailedError) return true;
    throw err;
  }
}

/** Counts a failed child on a pending session's parent. */
async function countFailedChild(deps: SessionDeps, sessionId: string): Promise<void> {
  try {
    await deps.store.update(
      keys.session(sessionId),
      { updatedAt: deps.now() },
      { add: { failedChildren: 1 }, conditions: [{ type: 'equals', attr: 'state', value: 'pending' }] },
    );
  } catch (err) {
    // No longer pending: nothing is waiting on the count.
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}

/**
 * Ends a session: the one release every ending goes through (DELETE, the CLI's Ctrl-C, expiry,
 * a failed or timed-out creation, a resumed cleanup). In order:
 *
 *   1. the session is `closed` with its reason (nothing new attaches to it from here on);
 *   2. its features are released: split registrations removed first, so splitters stop routing
 *      to its output queues once their caches expire; the retire duty drains each queue back to
 *      each message's cluster fallback and deletes it;
 *   3. every cluster is sent `child.close`, which drops the session's subscriptions there;
 *   4. subscribes still waiting for answers are forgotten;
 *   5. the client gets the final status, and its connection is closed.
 *
 * Idempotent and driven by the store, not memory: a router that dies anywhere in between leaves
 * a closed session that still holds something, and the reconciler's `expire-sessions` duty runs
 * this again until nothing is left (see `expireSessions`).
 */
export async function endSession(
  deps: SessionDeps,
  sessionId: string,
  reason: string,
): Promise<SessionView | undefined> {
  const { store } = deps;
  let s = await readSession(store, sessionId);
  if (!s) return undefined;
  const now = deps.now();
  if (s.state !== 'closed') {
    await setSessionState(store, sessionId, 'closed', ['pending', 'ready', 'failed'], now, {
      closedReason: reason,
      closedAt: now,
    });
  }
  await deps.features.release(s);
  for (const child of Object.values(s.clusters)) {
    if (child.state === 'closed') continue;
    // A failed child holds nothing on its cluster (refused, or never reached it); one that timed
    // out was asked and may still be created there, so it is closed like a live one.
    if (child.state === 'failed' && child.error?.code !== CLUSTER_TIMEOUT) {
      await setChildState(store, sessionId, child.clusterId, 'closed', ['failed'], now, child.error);
      continue;
    }
    if (child.state !== 'closing')
      await setChildState(store, sessionId, child.clusterId, 'closing', [child.stored ?? child.state], now);
    const sent = await deps.messenger.toCluster(child.clusterId, {
      v: 1,
      type: 'child.close',
      sessionId,
      childId: child.childId,
    });
    // Sent, or the cluster has no connection (so it holds nothing live for this session until it
    // reconnects, when its hello re-sends the close): either way the child is done on our side
    // once the close is delivered; an undelivered close stays `closing` for the next run.
    if (sent) await setChildState(store, sessionId, child.clusterId, 'closed', ['closing'], now);
  }
  for (const pending of await store.query(keys.session(sessionId).pk, { skPrefix: 'SUBREQ#' })) {
    await store.delete(pending);
  }
  s = (await readSession(store, sessionId))!;
  if (s.clientConnectionId) {
    await deps.messenger.toConnection(s.clientConnectionId, statusMessage(s));
    await deps.messenger.closeConnection(s.clientConnectionId);
    // Forgotten once closed, so a closed session still naming a client is one whose close was cut short.
    await forgetClient(store, sessionId, s.clientConnectionId);
    const { clientConnectionId: _gone, ...rest } = s;
    s = rest;
  }
  return s;
}

async function forgetClient(store: Store, sessionId: string, connectionId: string): Promise<void> {
  try {
    await store.update(
      keys.session(sessionId),
      {},
      {
        // Only this connection: a $disconnect that already removed it is not an error.
        conditions: [{ type: 'equals', attr: 'clientConnectionId', value: connectionId }],
        remove: ['clientConnectionId'],
      },
    );
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}

/**
 * A connector said hello (after connecting or reconnecting): re-send what it missed. With
 * `replicaTag`, to that replica alone (another replica of the cluster already serves them).
 */
export async function onClusterConnected(
  deps: SessionDeps,
  clusterId: string,
  replicaTag?: string,
): Promise<number> {
  const children = await childrenOfCluster(deps.store, clusterId);
  let resent = 0;
  for (const child of children) {
    if (child.state === 'pending' || child.state === 'disconnected' || child.state === 'ready') {
      const s = await readSession(deps.store, child.sessionId);
      if (!s || s.state === 'closed' || s.state === 'failed') continue;
      // `ready` too: a connector that restarted lost its in-memory children; re-creating is idempotent.
      if (await sendChildCreate(deps, s, clusterId, replicaTag)) resent++;
    } else if (child.state === 'closing') {
      await endSession(deps, child.sessionId, 'cleanup resumed');
      resent++;
    }
  }
  return resent;
}

/** A connector's connection dropped: its live children are disconnected until it returns. */
export async function onClusterDisconnected(deps: SessionDeps, clusterId: string): Promise<void> {
  const children = await childrenOfCluster(deps.store, clusterId);
  for (const child of children) {
    if (child.state !== 'ready' && child.state !== 'pending') continue;
    const changed = await setChildState(
      deps.store,
      child.sessionId,
      clusterId,
      'disconnected',
      [child.state],
      deps.now(),
      {
        code: 'cluster_disconnected',
        message: `cluster '${clusterId}' disconnected; waiting for it to return`,
      },
    );
    if (!changed) continue;
    // Dropped before its first answer: that answer must now take the child item from
    // `disconnected`, so the parent stops taking a mark for it (see markChildReady).
    if (child.state === 'pending') await noteDownBeforeAnswer(deps, child.sessionId, clusterId);
    const s = await readSession(deps.store, child.sessionId);
    if (s && s.state !== 'closed') await notifyClient(deps, s);
  }
}

async function noteDownBeforeAnswer(deps: SessionDeps, sessionId: string, clusterId: string): Promise<void> {
  try {
    await deps.store.update(
      keys.session(sessionId),
      { [downMark(clusterId)]: deps.now() },
      { conditions: [{ type: 'equals', attr: 'state', value: 'pending' }] },
    );
  } catch (err) {
    // No longer pending: no answer is counted any more.
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}

/**
 * The replica answering a cluster's stateful operations left while others stay: what it had in
 * flight gets no answer. Each live session's client is told (`replica_gone`), so it sends its
 * reads again, now to the next replica, and fails what cannot be repeated (an outgoing connect)
 * with a clear error; the reply order (`seq`) drops a second copy, so nothing is answered twice.
 */
export async function onStatefulReplicaGone(
  deps: SessionDeps,
  clusterId: string,
  replicaId: string,
): Promise<void> {
  for (const child of await childrenOfCluster(deps.store, clusterId)) {
    if (child.state !== 'ready' && child.state !== 'pending') continue;
    const s = await readSession(deps.store, child.sessionId);
    if (!s?.clientConnectionId || (s.state !== 'ready' && s.state !== 'pending')) continue;
    await deps.messenger.toConnection(s.clientConnectionId, {
      v: 1,
      type: 'error',
      sessionId: s.id,
      code: 'replica_gone',
      message: `the replica '${replicaId}' of cluster '${clusterId}' that answered this session's stateful requests went away; reads in flight are sent again to another replica`,
      cluster: clusterId,
    });
  }
}

/**
 * Reconciler duty, three jobs:
 * - a live session whose client stopped sending heartbeats ends (`expired: no heartbeat`);
 * - a pending session whose clusters did not all answer within `childReadyTimeoutMs` settles
 *   with those clusters failed (`cluster_timeout`), which ends it unless a partial session may go on;
 * - an ended session (failed, or closed) that still holds anything (a live or closing child, a
 *   split registration or undrained split, a client connection) is ended again, which finishes
 *   the release. A router that died half-way through an ending is caught up by the next run of
 *   whichever process holds the lease: at most one lease period plus one reconcile interval.
 */
export async function expireSessions(
  deps: SessionDeps,
): Promise<{ expired: number; timedOut: number; finished: number }> {
  const now = deps.now();
  let expired = 0;
  let timedOut = 0;
  let finished = 0;
  const [sessions, holders] = await Promise.all([listSessions(deps.store), deps.features.holders()]);
  for (const s of sessions) {
    if ((s.state === 'pending' || s.state === 'ready') && s.expiresAt < now) {
      await endSession(deps, s.id, 'expired: no heartbeat');
      expired++;
    } else if (s.state === 'pending' && now - s.createdAt > deps.settings.childReadyTimeoutMs) {
      if (await timeOutPendingChildren(deps, s)) timedOut++;
    } else if (
      s.state === 'failed' ||
      (s.state === 'closed' &&
        (holders.has(s.id) ||
          s.clientConnectionId !== undefined ||
          Object.values(s.clusters).some((c) => LIVE_CHILD.includes(c.state) || c.state === 'closing')))
    ) {
      await endSession(deps, s.id, s.closedReason ?? (s.state === 'failed' ? 'failed' : 'cleanup resumed'));
      finished++;
    }
  }
  return { expired, timedOut, finished };
}

async function timeOutPendingChildren(deps: SessionDeps, s: SessionView): Promise<boolean> {
  const seconds = Math.round(deps.settings.childReadyTimeoutMs / 1000);
  let changed = false;
  for (const c of Object.values(s.clusters)) {
    if (c.state !== 'pending') continue;
    const failed = await setChildState(deps.store, s.id, c.clusterId, 'failed', ['pending'], deps.now(), {
      code: CLUSTER_TIMEOUT,
      message: `cluster '${c.clusterId}' did not answer in ${seconds} s: is its connector stuck?`,
    });
    if (failed) {
      changed = true;
      await deps.store.update(keys.session(s.id), {}, { add: { failedChildren: 1 } });
    }
  }
  // Settled even when nothing timed out: a session whose every child answered but that no answer
  // settled (answers counted by two router versions during a deploy: docs/deploy.md) becomes
  // ready here, from its children, instead of waiting for its client to go.
  const after = await settleSession(deps, s.id);
  return changed || after?.state !== 'pending';
}

/** Reads a session for its owner: not found and someone else's session look the same (no probing). */
export async function sessionForOwner(store: Store, id: string, owner: string): Promise<SessionView> {
  const s = await readSession(store, id);
  if (!s || s.owner !== owner) throw new NotFoundError('session', id);
  return s;
}

/** For resuming: a closed or failed session cannot be resumed. */
export function assertResumable(s: SessionView): void {
  if (s.state === 'closed' || s.state === 'failed') {
    throw new GoneError(
      `session '${s.id}' is ${s.state}${s.closedReason ? ` (${s.closedReason})` : ''}: start a new one`,
      {
        sessionId: s.id,
        state: s.state,
      },
    );
  }
}
