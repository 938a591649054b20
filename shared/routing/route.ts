import { replicaTag } from '../clusters/replica.ts';
import { defaultCluster, type Topology, workloadClusters } from '../config/topology.ts';
import { NAMESPACED_ID_MAX } from '../protocol/fields.ts';
import type { RoutingHead } from '../protocol/messages/head.ts';
import { type ErrorMessage, type Message, message } from '../protocol/messages.ts';
import { routingHeadOf } from '../protocol/routing-head.ts';
import { namespaceId } from './namespace.ts';
import { RoutingError } from './routing-error.ts';
import { checkClusterAssignedId, type Plan, ROUTES, type RouteContext } from './rules.ts';

/** Who sent the message: a session's client, or a cluster's connector. */
export type From =
  /** `owner`: the router's opaque key of the session's developer (`ownerKey`), stamped on chunks. */
  | { kind: 'client'; sessionId: string; owner?: string }
  /** `replicaId`: the connector replica on the connection; its tag namespaces the ids it assigns. */
  | { kind: 'cluster'; clusterId: string; replicaId?: string };

/**
 * What the router does with one message. Cluster ids are resolved from the topology, so the
 * caller only looks up connections. `message` is what to send: ids already (un)namespaced,
 * `sessionId` set toward clusters, `cluster` set toward the client.
 */
export type RouteDecision =
  | { to: 'default'; clusterId: string; message: Message }
  | { to: 'workloads'; clusterIds: string[]; message: Message }
  | { to: 'all-clusters'; clusterIds: string[]; message: Message }
  | { to: 'cluster'; clusterId: string; replicaTag?: string; message: Message }
  | { to: 'client'; sessionId: string; message: Message }
  | { to: 'router'; message: Message }
  | { to: 'reject'; error: RoutingError; reply: ErrorMessage };

type FieldChanges = Partial<Record<'sessionId' | 'cluster' | 'requestId' | 'subId', string | undefined>>;

/**
 * Decide where a message goes. Pure: no I/O, no clock; the same input always gives the same
 * decision, which is what lets any stateless router instance handle any frame.
 */
export function route(msg: Message, from: From, topology: Topology): RouteDecision {
  const head = routingHeadOf(msg);
  const workloads = workloadClusters(topology).map((c) => c.id);
  const ctx: RouteContext = { defaultId: defaultCluster(topology).id, workloadIds: workloads };

  let outcome: Plan | RoutingError;
  if (from.kind === 'client') {
    outcome =
      head.sessionId !== undefined && head.sessionId !== from.sessionId
        ? new RoutingError(
            'session_mismatch',
            `this connection belongs to session '${from.sessionId}' and may not send for session '${head.sessionId}'`,
            { sessionId: head.sessionId },
          )
        : ROUTES[head.type].client(head, ctx);
  } else if (!topology.clusters.some((c) => c.id === from.clusterId)) {
    outcome = new RoutingError(
      'unknown_cluster',
      `cluster '${from.clusterId}' is not in the topology: add it to the config or stop its connector`,
      { cluster: from.clusterId },
    );
  } else {
    outcome = ROUTES[head.type].cluster(head, ctx, from.clusterId);
  }
  if (outcome instanceof RoutingError) return reject(outcome, head, from);

  const { target } = outcome;
  if (msg.type === 'chunk' && target.to === 'router') {
    return reject(
      new RoutingError(
        'not_chunkable',
        `"${head.type}" is read by the router itself and must fit in one frame; do not chunk it`,
        { type: head.type },
      ),
      head,
      from,
    );
  }

  const changes: FieldChanges = { ...outcome.set };
  let msgId = msg.type === 'chunk' ? msg.msgId : undefined;
  if (from.kind === 'client') {
    // The connection, not the message, says which session this is; a client never speaks for a cluster.
    changes.sessionId = from.sessionId;
    changes.cluster = undefined;
  } else if (target.to === 'client') {
    changes.cluster = from.clusterId;
    for (const [field, value] of [
      ['requestId', head.requestId],
      ['msgId', msgId],
    ] as const) {
      if (value === undefined) continue;
      const tooLong = checkClusterAssignedId(field, value);
      if (tooLong) return reject(tooLong, head, from);
    }
    const tag = from.replicaId === undefined ? undefined : replicaTag(from.replicaId);
    if (head.requestId !== undefined) changes.requestId = namespaceId(from.clusterId, head.requestId, tag);
    if (msgId !== undefined) msgId = namespaceId(from.clusterId, msgId, tag);
    const long = [changes.requestId, msgId].find((v) => v !== undefined && v.length > NAMESPACED_ID_MAX);
    if (long !== undefined) {
      return reject(
        new RoutingError(
          'invalid_id',
          `an id with its namespace must fit in ${NAMESPACED_ID_MAX} characters: use shorter ids`,
          { field: 'requestId' },
        ),
        head,
        from,
      );
    }
  }

  let out: Message =
    msg.type === 'chunk'
      ? { ...msg, msgId: msgId!, head: withChanges(msg.head, changes) }
      : withChanges(msg, changes);
  if (out.type === 'chunk') {
    // Only the router names a chunk's owner: whatever a sender put there is replaced or removed.
    const { owner: _claimed, ...rest } = out;
    out = from.kind === 'client' && from.owner !== undefined ? { ...rest, owner: from.owner } : rest;
  }

  switch (target.to) {
    case 'default':
      return { to: 'default', clusterId: ctx.defaultId, message: out };
    case 'workloads':
      return { to: 'workloads', clusterIds: [...workloads], message: out };
    case 'all-clusters':
      return {
        to: 'all-clusters',
        clusterIds: topology.clusters
          .filter((c) => c.id === ctx.defaultId || workloads.includes(c.id))
          .map((c) => c.id),
        message: out,
      };
    case 'cluster':
      return {
        to: 'cluster',
        clusterId: target.clusterId,
        ...(target.replicaTag ? { replicaTag: target.replicaTag } : {}),
        message: out,
      };
    case 'client':
      return { to: 'client', sessionId: target.sessionId, message: out };
    case 'router':
      return { to: 'router', message: out };
  }
}

/** The clusters a decision sends to (none for client, router or reject). */
export function clusterTargets(decision: RouteDecision): string[] {
  switch (decision.to) {
    case 'default':
    case 'cluster':
      return [decision.clusterId];
    case 'workloads':
    case 'all-clusters':
      return decision.clusterIds;
    default:
      return [];
  }
}

function withChanges<T extends object>(value: T, changes: FieldChanges): T {
  const out = { ...value } as Record<string, unknown>;
  for (const [key, v] of Object.entries(changes)) {
    if (v === undefined) delete out[key];
    else out[key] = v;
  }
  return out as unknown as T;
}

/** The refusal, and the `error` frame to send back naming what it refuses. */
function reject(error: RoutingError, head: RoutingHead, from: From): RouteDecision {
  const reply = message('error', {
    code: error.code,
    message: error.message,
    ...(from.kind === 'cluster' && head.sessionId !== undefined ? { sessionId: head.sessionId } : {}),
    ...(head.reqId !== undefined ? { reqId: head.reqId } : {}),
    ...(head.seq !== undefined ? { seq: head.seq } : {}),
    ...(head.subId !== undefined ? { subId: head.subId } : {}),
    ...(head.requestId !== undefined ? { requestId: head.requestId } : {}),
    ...(head.connId !== undefined ? { connId: head.connId } : {}),
  });
  return { to: 'reject', error, reply };
}
