import { authenticate, type Principal, principalId } from '../auth/tokens.ts';
import { applyStatus } from '../branches/branches.ts';
import { syncBranches } from '../branches/controller.ts';
import { readReplicas, recordHello, registerReplica, removeReplica } from '../clusters/registry.ts';
import { isReplicaId, replicaIdOfConnection, replicaTag, statefulReplica } from '../clusters/replica.ts';
import { defaultCluster } from '../config/topology.ts';
import {
  ConditionFailedError,
  ForbiddenError,
  GoneError,
  NotFoundError,
  SwitchyardError,
  ValidationError,
} from '../errors/errors.ts';
import { REPLACED } from '../protocol/close-codes.ts';
import { parseMessage } from '../protocol/codec.ts';
import { type ErrorIds, errorFrame, internalErrorFrame, replyIdsOf } from '../protocol/error-frame.ts';
import type { Message, MessageOf } from '../protocol/messages.ts';
import { ProtocolError } from '../protocol/protocol-error.ts';
import { routingHeadOf } from '../protocol/routing-head.ts';
import type { MessageType } from '../protocol/types.ts';
import { splitNamespacedId } from '../routing/namespace.ts';
import { ownerKey } from '../routing/owner-key.ts';
import { clusterTargets, type From, type RouteDecision, route } from '../routing/route.ts';
import {
  assertResumable,
  onChildAnswer,
  onClusterConnected,
  onClusterDisconnected,
  onStatefulReplicaGone,
  type SessionDeps,
  statusMessage,
} from '../sessions/lifecycle.ts';
import { attachClient, editSubscriptions, readSession } from '../sessions/sessions.ts';
import { keys } from '../store/keys.ts';
import { type ConnectionRecord, deleteConnection, loadConnection, saveConnection } from './connections.ts';
import type { ConnectionIdentity } from './identity.ts';
import { Liveness } from './liveness.ts';
import { SubscribeAggregates } from './subscribe-aggregates.ts';

export interface ConnectRequest {
  connectionId: string;
  token: string | undefined;
  query: Record<string, string | undefined>;
  /** Who the $connect authorizer found on the connection: the checks are not run again. */
  identity?: ConnectionIdentity;
}

export type ConnectResult = { ok: true; record: ConnectionRecord } | { ok: false; error: SwitchyardError };
export type AuthorizeResult =
  | { ok: true; identity: ConnectionIdentity }
  | { ok: false; error: SwitchyardError };

function recordOf(connectionId: string, identity: ConnectionIdentity): ConnectionRecord {
  return identity.role === 'cluster'
    ? {
        connectionId,
        role: 'cluster',
        clusterId: identity.clusterId,
        replicaId: identity.replicaId ?? replicaIdOfConnection(connectionId),
      }
    : { connectionId, role: 'client', sessionId: identity.sessionId, owner: identity.owner };
}

type Msg = Record<string, unknown> & { type: string };
type ClusterRecord = Extract<ConnectionRecord, { role: 'cluster' }>;

const CONNECTION_TTL_MS = 3 * 60 * 60 * 1000; // API Gateway closes connections after 2 h.

/**
 * The router's message relay: stateless by design (any instance may handle any frame; all it
 * needs is in the store), with per-instance caches so steady-state routing reads nothing:
 * who is on a connection, and which connection is a session's client or a cluster's connector.
 * A cache entry is only ever wrong after its connection ended, and posting to an ended connection
 * answers 410 Gone, which drops the entry and re-reads: the caches stay correct when a session ends.
 */
export class Relay {
  private readonly connections = new Map<string, ConnectionRecord>();
  private readonly clientOf = new Map<string, string>();
  private readonly subscribes: SubscribeAggregates;
  private readonly liveness: Liveness;

  constructor(readonly deps: SessionDeps) {
    this.subscribes = new SubscribeAggregates(deps, (sessionId, msg) => this.toClient(sessionId, msg));
    this.liveness = new Liveness(deps, (connectionId, msg) => this.reply(connectionId, msg));
    // A replica found gone by a post leaves as if its $disconnect came (it may never come).
    deps.messenger.onReplicaGone?.((r) => this.replicaLeft({ role: 'cluster', ...r }));
  }

  // ---- $connect / $disconnect ----------------------------------------------------------------

  /**
   * The checks a connection must pass, in one place: the $connect authorizer and $connect itself
   * (when no authorizer ran) both use them. A cluster's token must be that cluster's and the
   * cluster in the topology; a client's session must exist, be the principal's and be resumable.
   */
  async authorizeConnect(req: {
    token: string | undefined;
    query: Record<string, string | undefined>;
  }): Promise<AuthorizeResult> {
    const { store, topology } = this.deps;
    let principal: Principal;
    try {
      principal = await authenticate(store, req.token);
    } catch (err) {
      return { ok: false, error: err as SwitchyardError };
    }
    if (principal.type === 'cluster') {
      const clusterId = req.query.cluster ?? principal.clusterId;
      if (clusterId !== principal.clusterId) {
        return {
          ok: false,
          error: new ForbiddenError(
            `this token belongs to cluster '${principal.clusterId}', not '${clusterId}'`,
          ),
        };
      }
      if (!topology.clusters.some((c) => c.id === clusterId)) {
        return {
          ok: false,
          error: new ForbiddenError(`cluster '${clusterId}' is not in the router's topology`),
        };
      }
      const replicaId = req.query.replica;
      if (replicaId !== undefined && !isReplicaId(replicaId)) {
        return {
          ok: false,
          error: new ValidationError(
            'replica: 1 to 63 letters, digits, ".", "_" or "-", starting with a letter or digit (a pod name)',
          ),
        };
      }
      return { ok: true, identity: { role: 'cluster', clusterId, ...(replicaId ? { replicaId } : {}) } };
    }
    const sessionId = req.query.session;
    if (!sessionId || !/^[a-z0-9]{1,40}$/.test(sessionId)) {
      return {
        ok: false,
        error: new ValidationError('connect with ?session=<session id> (create one with POST /v1/sessions)'),
      };
    }
    const owner = principalId(principal);
    const s = await readSession(store, sessionId);
    if (!s || s.owner !== owner) return { ok: false, error: new NotFoundError('session', sessionId) };
    try {
      assertResumable(s);
    } catch (err) {
      return { ok: false, error: err as SwitchyardError };
    }
    return { ok: true, identity: { role: 'client', sessionId, owner } };
  }

  /**
   * Records the connection. With `identity` (what the authorizer found) the checks are not run
   * again; without it (no authorizer in front) they run here.
   */
  async connect(req: ConnectRequest): Promise<ConnectResult> {
    const { store } = this.deps;
    let identity = req.identity;
    if (!identity) {
      const auth = await this.authorizeConnect(req);
      if (!auth.ok) return auth;
      identity = auth.identity;
    }
    const now = this.deps.now();
    const record = recordOf(req.connectionId, identity);
    if (record.role === 'cluster') {
      await saveConnection(store, record, now, CONNECTION_TTL_MS);
      // The same replica id on a new connection replaces its old one; another id adds a replica.
      await registerReplica(store, record.clusterId, record.replicaId, req.connectionId, now);
      this.deps.messenger.replicasChanged?.(record.clusterId);
      this.connections.set(req.connectionId, record);
      this.liveness.clusterConnected(req.connectionId, now);
      return { ok: true, record };
    }
    const { sessionId } = record;
    await saveConnection(store, record, now, CONNECTION_TTL_MS);
    // A newer connection (a resume, a second CLI) replaces an older one: traffic follows the latest.
    const attached = await attachClient(store, sessionId, req.connectionId, now, this.deps.settings);
    if (!attached) {
      // The session ended after it was checked (between the authorizer and $connect).
      await deleteConnection(store, req.connectionId);
      return {
        ok: false,
        error: new GoneError(`session '${sessionId}' ended while connecting: start a new one`, { sessionId }),
      };
    }
    this.connections.set(req.connectionId, record);
    this.clientOf.set(sessionId, req.connectionId);
    // The replaced one is told and closed, rather than left open and silent.
    if (attached.replaced) await this.deps.messenger.closeConnection(attached.replaced, REPLACED);
    return { ok: true, record };
  }

  /** `identity`: the authorizer's, from the event; without it the connection's record is read. */
  async disconnect(connectionId: string, identity?: ConnectionIdentity): Promise<void> {
    const rec =
      this.connections.get(connectionId) ??
      (identity ? recordOf(connectionId, identity) : await loadConnection(this.deps.store, connectionId));
    this.connections.delete(connectionId);
    await deleteConnection(this.deps.store, connectionId);
    if (!rec) return;
    if (rec.role === 'cluster') {
      await this.replicaLeft(rec);
      return;
    }
    if (this.clientOf.get(rec.sessionId) === connectionId) this.clientOf.delete(rec.sessionId);
    try {
      await this.deps.store.update(
        { pk: `SESSION#${rec.sessionId}`, sk: 'SESSION' },
        { updatedAt: this.deps.now() },
        {
          conditions: [{ type: 'equals', attr: 'clientConnectionId', value: connectionId }],
          remove: ['clientConnectionId'],
        },
      );
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }

  // ---- $default ------------------------------------------------------------------------------

  /** `identity`: the authorizer's, from the event; without it the connection's record is read. */
  async message(connectionId: string, text: string, identity?: ConnectionIdentity): Promise<void> {
    const rec = await this.connection(connectionId, identity);
    if (!rec) {
      // A frame from a connection we have no record of ($connect lost?): it cannot be trusted.
      await this.deps.messenger.closeConnection(connectionId);
      return;
    }
    let msg: Message;
    try {
      msg = parseMessage(text);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      await this.refuse(rec, err, (err.details?.replyTo ?? {}) as ErrorIds);
      return;
    }
    try {
      await this.routeMessage(rec, msg);
    } catch (err) {
      // A named failure (a store refusal, a branch report the branch feature rejects) is the
      // sender's to know; anything else goes up to the handler, which logs it under an incident id.
      // A ProtocolError here is our own encoder refusing what we built: not the sender's fault.
      if (!(err instanceof SwitchyardError) || err instanceof ProtocolError) throw err;
      await this.refuse(rec, err, replyIdsOf(msg.type === 'chunk' ? msg.head : msg));
    }
  }

  /**
   * An error back to the sender, naming what it answers. A client's connection is its session,
   * so toward a client no session is named (as in route.ts).
   */
  private refuse(rec: ConnectionRecord, err: SwitchyardError, ids: ErrorIds): Promise<boolean> {
    const { sessionId: _s, ...clientIds } = ids;
    return this.deps.messenger.toConnection(
      rec.connectionId,
      errorFrame(err.code, err.message, rec.role === 'cluster' ? ids : clientIds),
    );
  }

  /**
   * Answers a frame whose handling failed for a reason nobody foresaw: no details (they are in
   * the router's log under `incident`), never silence.
   */
  async internalError(connectionId: string, incident: string): Promise<void> {
    await this.deps.messenger.toConnection(connectionId, internalErrorFrame(incident));
  }

  private async routeMessage(rec: ConnectionRecord, msg: Message): Promise<void> {
    const { connectionId } = rec;
    const head = routingHeadOf(msg);
    // Messages the connector sends for itself, before the protocol routes anything.
    if (rec.role === 'cluster') {
      await this.liveness.clusterFrame(rec);
      if (head.type === 'hello') {
        await this.hello(rec, msg as unknown as Msg);
        return;
      }
      if (head.type === 'goodbye') {
        // A replica leaving on purpose: closed now, as its $disconnect would (which may come late
        // or never on API Gateway). The $disconnect that follows finds nothing left to do.
        await this.disconnect(connectionId, {
          role: 'cluster',
          clusterId: rec.clusterId,
          replicaId: rec.replicaId,
        });
        return;
      }
    }
    const from: From =
      rec.role === 'client'
        ? {
            kind: 'client',
            sessionId: rec.sessionId,
            // Only chunks carry it (the connector budgets reassembly per developer): no hash otherwise.
            ...(msg.type === 'chunk' && rec.owner ? { owner: ownerKey(rec.owner) } : {}),
          }
        : { kind: 'cluster', clusterId: rec.clusterId, replicaId: rec.replicaId };
    const decision = route(msg, from, this.deps.topology);
    switch (decision.to) {
      case 'reject':
        await this.reply(connectionId, decision.reply as unknown as Msg);
        return;
      case 'router':
        await this.forRouter(rec, decision.message);
        return;
      case 'client':
        await this.toClient(decision.sessionId, decision.message as unknown as Msg, rec);
        return;
      default: {
        const out = decision.message as unknown as Msg;
        if (rec.role === 'client') await this.fromClient(rec, out, decision);
        else for (const c of clusterTargets(decision)) await this.deps.messenger.toCluster(c, out);
      }
    }
  }

  private async connection(
    connectionId: string,
    identity?: ConnectionIdentity,
  ): Promise<ConnectionRecord | undefined> {
    let rec = this.connections.get(connectionId);
    if (!rec) {
      rec = identity ? recordOf(connectionId, identity) : await loadConnection(this.deps.store, connectionId);
      if (rec) this.connections.set(connectionId, rec);
    }
    return rec;
  }

  private reply(connectionId: string, msg: Msg): Promise<boolean> {
    return this.deps.messenger.toConnection(connectionId, { v: 1, ...msg });
  }

  /** Client -> clusters, with what the router itself must remember (subscriptions, heartbeats). */
  private async fromClient(
    rec: Extract<ConnectionRecord, { role: 'client' }>,
    msg: Msg,
    decision: RouteDecision,
  ): Promise<void> {
    const { sessionId } = rec;
    const targets = clusterTargets(decision);
    if (msg.type === 'ping') await this.liveness.sessionPing(sessionId);
    if (msg.type === 'subscribe') {
      await this.subscribes.start(sessionId, msg, targets);
      return;
    }
    if (msg.type === 'unsubscribe' && typeof msg.subId === 'string') {
      const subId = splitNamespacedId(msg.subId)?.id ?? msg.subId;
      await editSubscriptions(this.deps.store, sessionId, (subs) => subs.filter((s) => s.subId !== subId));
    }
    const unreachable: string[] = [];
    for (const c of targets) if (!(await this.toReplicas(decision, c, msg))) unreachable.push(c);
    // A stateful request to an unreachable default cluster must not leave the client waiting.
    if (unreachable.length && (msg.reqId !== undefined || msg.type === 'outgoing.connect')) {
      await this.reply(rec.connectionId, {
        type: 'error',
        ...(msg.reqId !== undefined ? { reqId: msg.reqId } : {}),
        ...(msg.seq !== undefined ? { seq: msg.seq } : {}),
        ...(msg.connId !== undefined ? { connId: msg.connId } : {}),
        code: 'cluster_unavailable',
        message: `cluster ${unreachable.map((c) => `'${c}'`).join(', ')} is not connected`,
      });
    }
  }

  /**
   * Which replicas of a cluster get a client's message: stateful operations (and pings, which
   * ask whether the cluster answers) one replica; an answer about a cluster-assigned id the
   * replica that assigned it; the rest (unsubscribe, an id without a replica) every replica.
   */
  private toReplicas(decision: RouteDecision, clusterId: string, msg: Msg): Promise<boolean> {
    const { messenger } = this.deps;
    if (decision.to === 'default' || msg.type === 'ping') return messenger.toStatefulReplica(clusterId, msg);
    if (decision.to === 'cluster' && decision.replicaTag)
      return messenger.toReplica(clusterId, decision.replicaTag, msg);
    // An answer about a request that names no replica: traffic, so the cached set will do (a
    // client must not buy a table read per frame); sessions and subscriptions read it fresh.
    const traffic = decision.to === 'cluster' && msg.type !== 'unsubscribe';
    return messenger.toCluster(clusterId, msg, traffic ? { cached: true } : {});
  }

  /**
   * Messages the router consumes itself, from a connector, by type: each handler gets its own
   * message type. A pong needs nothing (the liveness check already recorded the frame); a client's
   * error or pong to the router is dropped.
   */
  private readonly fromConnector: {
    [T in MessageType]?: (rec: ClusterRecord, msg: MessageOf<T>) => Promise<void>;
  } = {
    'child.ready': (rec, msg) =>
      onChildAnswer(this.deps, rec.clusterId, { sessionId: msg.sessionId, ready: true }),
    'child.failed': (rec, msg) =>
      onChildAnswer(this.deps, rec.clusterId, {
        sessionId: msg.sessionId,
        ready: false,
        error: { code: msg.code, message: msg.message },
      }),
    subscribed: (rec, msg) => this.subscribes.answer(rec.clusterId, msg as unknown as Msg),
    error: async (rec, msg) => {
      if (msg.reqId !== undefined && msg.sessionId !== undefined)
        await this.subscribes.answer(rec.clusterId, msg as unknown as Msg);
    },
    ping: async (rec, msg) => {
      await this.reply(rec.connectionId, { type: 'pong', ...(msg.nonce ? { nonce: msg.nonce } : {}) });
    },
    'branch.status': async (_rec, msg) => {
      // Only the default cluster gets here (routing refuses the others).
      const { v: _v, type: _t, cluster: _c, ...report } = msg as unknown as Msg;
      await applyStatus(this.deps.store, report, this.deps.now());
    },
  };

  private async forRouter(rec: ConnectionRecord, msg: Message): Promise<void> {
    if (rec.role !== 'cluster') return;
    const handle = this.fromConnector[msg.type] as
      | ((rec: ClusterRecord, msg: Message) => Promise<void>)
      | undefined;
    await handle?.(rec, msg);
  }

  private async hello(rec: Extract<ConnectionRecord, { role: 'cluster' }>, msg: Msg): Promise<void> {
    const services = Array.isArray(msg.services)
      ? (msg.services as unknown[]).filter((s): s is string => typeof s === 'string')
      : [];
    const current = await recordHello(
      this.deps.store,
      rec.clusterId,
      rec.replicaId,
      rec.connectionId,
      services.slice(0, 200),
      this.deps.now(),
    );
    // A hello on a connection its replica has already left behind (a newer one replaced it).
    if (!current) return;
    // This replica gets every live session of its cluster (the others already hold them). The
    // hello may reach an instance whose cached set predates the replica: read it again.
    this.deps.messenger.replicasChanged?.(rec.clusterId);
    await onClusterConnected(this.deps, rec.clusterId, replicaTag(rec.replicaId));
    // The default cluster came (back): everything unfinished about branches is sent again.
    if (rec.clusterId === defaultCluster(this.deps.topology).id) await syncBranches(this.deps);
  }

  /**
   * A replica's connection closed. The cluster is down only when no replica is left; a late
   * `$disconnect` of an old connection changes nothing (removeReplica is conditional on it). The
   * same handling runs when a post finds the connection gone (410), since `$disconnect` is best
   * effort; whichever comes second finds the replica absent and only re-checks the set.
   *
   * Without transactions, "remove, then find none left" races with another replica connecting:
   *
   *   A: remove A ... query: none left ........ mark children disconnected
   *   B:                     $connect B, hello B, child.ready -> children ready   ^ now wrong
   *
   * So after marking, the set is read once more; a replica that came meanwhile gets every
   * session again (child.create is idempotent on the connector), and its child.ready turns the
   * children back to ready. Each step is conditional, so the two sides never undo each other.
   */
  private async replicaLeft(rec: Extract<ConnectionRecord, { role: 'cluster' }>): Promise<void> {
    const { store, messenger } = this.deps;
    this.liveness.clusterLeft(rec.connectionId);
    const removal = await removeReplica(store, rec.clusterId, rec.replicaId, rec.connectionId);
    // A late $disconnect: this replica is on a newer connection, nothing changed.
    if ('replaced' in removal) return;
    messenger.replicasChanged?.(rec.clusterId);
    const left = await readReplicas(store, rec.clusterId);
    if (left.length === 0) {
      await onClusterDisconnected(this.deps, rec.clusterId);
      const back = await readReplicas(store, rec.clusterId);
      for (const r of back) await onClusterConnected(this.deps, rec.clusterId, replicaTag(r.replicaId));
      return;
    }
    // The stateful replica of the default cluster left with requests in flight: they will get
    // no answer from it. Clients are told, so they send reads again (to the next replica) and
    // fail the rest with a clear error, instead of waiting for their timeout.
    // (Already absent: whoever removed it told them.)
    if (
      'removed' in removal &&
      rec.clusterId === defaultCluster(this.deps.topology).id &&
      statefulReplica([removal.removed, ...left])?.replicaId === rec.replicaId
    ) {
      await onStatefulReplicaGone(this.deps, rec.clusterId, rec.replicaId);
    }
  }

  /**
   * To the session's client. When the client is gone a stolen request must not wait for its
   * deadline: the owning cluster is told at once, and serves it from the upstream. So is a
   * `data` of a stolen request lost on the way (a streamed body, a stolen WebSocket's bytes):
   * what the client gets would have a hole, so the cluster cuts that request instead.
   */
  private async toClient(sessionId: string, msg: Msg, from?: ConnectionRecord): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let conn = this.clientOf.get(sessionId);
      if (!conn) {
        // The parent item alone: one item read, not the session's whole partition.
        const s = await this.deps.store.get(keys.session(sessionId));
        conn =
          s && (s.state === 'pending' || s.state === 'ready')
            ? (s.clientConnectionId as string | undefined)
            : undefined;
        if (!conn) break;
        this.clientOf.set(sessionId, conn);
      }
      if (await this.deps.messenger.toConnection(conn, msg)) return;
      this.clientOf.delete(sessionId);
    }
    const stolen = (msg.type === 'request' && msg.mode === 'steal') || msg.type === 'data';
    if (from?.role === 'cluster' && stolen && typeof msg.requestId === 'string') {
      const requestId = splitNamespacedId(msg.requestId as string)?.id ?? (msg.requestId as string);
      // To the replica holding the request, not to every replica of its cluster.
      await this.deps.messenger.toReplica(from.clusterId, replicaTag(from.replicaId), {
        v: 1,
        type: 'error',
        sessionId,
        requestId,
        code: 'client_gone',
        message: `the developer of session '${sessionId}' is not connected`,
      });
    }
  }

  /** Pushes the session's status to its client (after a resume, on request). */
  async pushStatus(sessionId: string): Promise<void> {
    const s = await readSession(this.deps.store, sessionId);
    if (s) await this.toClient(sessionId, statusMessage(s) as unknown as Msg);
  }
}
