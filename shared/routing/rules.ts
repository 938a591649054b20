import { ID_MAX } from '../protocol/fields.ts';
import type { RoutingHead } from '../protocol/messages/head.ts';
import type { CarriedType } from '../protocol/types.ts';
import { isNamespaced, type NamespacedId, splitNamespacedId } from './namespace.ts';
import { RoutingError } from './routing-error.ts';

/**
 * The routing table: for every message type, what happens when a client sends it and what
 * happens when a cluster sends it. Decided on the routing head alone (type + routing ids), so
 * a chunk is routed exactly as the message it is part of.
 */

export interface RouteContext {
  defaultId: string;
  /** Workload clusters, in topology order. */
  workloadIds: readonly string[];
}

export type Target =
  | { to: 'default' }
  | { to: 'workloads' }
  | { to: 'all-clusters' }
  | { to: 'cluster'; clusterId: string; replicaTag?: string }
  | { to: 'client'; sessionId: string }
  | { to: 'router' };

/** Where to send it, and the routing fields to rewrite on the way (`undefined` removes one). */
export interface Plan {
  target: Target;
  set?: Partial<Record<'subId' | 'requestId', string>>;
}

export type Outcome = Plan | RoutingError;

type ClientRule = (head: RoutingHead, ctx: RouteContext) => Outcome;
type ClusterRule = (head: RoutingHead, ctx: RouteContext, clusterId: string) => Outcome;

interface TypeRoute {
  /** One line for errors and docs: who sends it and where it goes. */
  flow: string;
  client: ClientRule;
  cluster: ClusterRule;
}

// ---- rule pieces -------------------------------------------------------------------------

const plan = (target: Target, set?: Plan['set']): Plan => (set ? { target, set } : { target });

const refuse =
  (side: 'client' | 'cluster') =>
  (head: RoutingHead): RoutingError =>
    new RoutingError(
      'wrong_direction',
      `a ${side} may not send "${head.type}": it flows ${ROUTES[head.type].flow}`,
      { type: head.type, side },
    );

const toDefault: ClientRule = () => plan({ to: 'default' });
const toWorkloads: ClientRule = () => plan({ to: 'workloads' });
const toRouter = (): Plan => plan({ to: 'router' });

/** Stateful answers come from the default cluster alone: one consistent view for the developer. */
const fromDefaultToClient: ClusterRule = (head, ctx, clusterId) => {
  if (clusterId !== ctx.defaultId) {
    return new RoutingError(
      'not_default_cluster',
      `cluster '${clusterId}' sent "${head.type}", but stateful operations belong to the default cluster '${ctx.defaultId}'`,
      { cluster: clusterId, default: ctx.defaultId },
    );
  }
  return toClient(head);
};

const requireWorkload = (
  head: RoutingHead,
  ctx: RouteContext,
  clusterId: string,
): RoutingError | undefined =>
  ctx.workloadIds.includes(clusterId)
    ? undefined
    : new RoutingError(
        'not_workload_cluster',
        `cluster '${clusterId}' sent "${head.type}", but it is not a workload cluster (workloads: ${ctx.workloadIds.join(', ')})`,
        { cluster: clusterId },
      );

const requireSession = (head: RoutingHead): RoutingError | undefined =>
  head.sessionId !== undefined
    ? undefined
    : new RoutingError(
        'missing_session',
        `"${head.type}" from a cluster must carry the "sessionId" it belongs to (one connector connection serves every session)`,
        { type: head.type },
      );

/** To the session's client; a cluster-assigned `requestId` gets the sender's namespace (route.ts). */
const toClient = (head: RoutingHead): Outcome =>
  requireSession(head) ?? plan({ to: 'client', sessionId: head.sessionId! });

const fromWorkloadToClient: ClusterRule = (head, ctx, clusterId) =>
  requireWorkload(head, ctx, clusterId) ?? toClient(head);

/** Split `<clusterId>:<id>` and check that cluster can own it. */
function owner(field: 'requestId' | 'subId', value: string, ctx: RouteContext): NamespacedId | RoutingError {
  const split = splitNamespacedId(value);
  if (!split) {
    return new RoutingError(
      'invalid_id',
      `${field} "${value}" names no cluster: send it back exactly as it arrived ("<clusterId>:<id>")`,
      { field, value },
    );
  }
  if (!ctx.workloadIds.includes(split.clusterId)) {
    return new RoutingError(
      'unknown_cluster',
      `${field} "${value}" names cluster '${split.clusterId}', which is not a workload cluster of this router (workloads: ${ctx.workloadIds.join(', ')})`,
      { field, value, cluster: split.clusterId },
    );
  }
  return split;
}

/** Answers about a cluster-assigned id go back to the one cluster that assigned it. */
const toOwnerOfRequest: ClientRule = (head, ctx) => {
  if (head.requestId === undefined) return missingField(head, 'requestId');
  const found = owner('requestId', head.requestId, ctx);
  if (found instanceof RoutingError) return found;
  // The replica that assigned the id holds the request; an id without a replica tag goes to them all.
  return plan(
    {
      to: 'cluster',
      clusterId: found.clusterId,
      ...(found.replicaTag ? { replicaTag: found.replicaTag } : {}),
    },
    { requestId: found.id },
  );
};

/** Only a chunk head can lack a field its type requires (whole messages passed their schema). */
const missingField = (head: RoutingHead, field: string): RoutingError =>
  new RoutingError('invalid_id', `"${head.type}" needs "${field}" in its routing head`, { field });

// ---- the table ---------------------------------------------------------------------------

const statefulRequest: TypeRoute = {
  flow: 'client -> default cluster',
  client: toDefault,
  cluster: refuse('cluster'),
};
const statefulReply: TypeRoute = {
  flow: 'default cluster -> client',
  client: refuse('client'),
  cluster: fromDefaultToClient,
};
const outgoingStream: TypeRoute = {
  flow: 'client <-> default cluster',
  client: toDefault,
  cluster: fromDefaultToClient,
};
const requestStream: TypeRoute = {
  flow: 'workload cluster -> client, and client -> the cluster named in requestId',
  client: toOwnerOfRequest,
  cluster: fromWorkloadToClient,
};
const routerOnly = (to: 'client' | 'cluster'): TypeRoute => ({
  flow: `router -> ${to} (only the router sends it)`,
  client: refuse('client'),
  cluster: refuse('cluster'),
});
const lifecycleAnswer: TypeRoute = {
  flow: 'cluster -> router',
  client: refuse('client'),
  cluster: (head) => requireSession(head) ?? toRouter(),
};

export const ROUTES: Record<CarriedType, TypeRoute> = {
  'env.get': statefulRequest,
  'file.read': statefulRequest,
  'file.stat': statefulRequest,
  'file.list': statefulRequest,
  'dns.resolve': statefulRequest,
  'outgoing.connect': statefulRequest,
  'env.result': statefulReply,
  'file.result': statefulReply,
  'dns.result': statefulReply,
  'outgoing.connected': statefulReply,
  'outgoing.data': outgoingStream,
  'outgoing.close': outgoingStream,
  subscribe: {
    flow: 'client -> every workload cluster',
    client: toWorkloads,
    cluster: refuse('cluster'),
  },
  unsubscribe: {
    flow: 'client -> every workload cluster, or to one with "<clusterId>:<subId>"',
    client: (head, ctx) => {
      if (head.subId === undefined) return missingField(head, 'subId');
      if (!isNamespaced(head.subId)) return toWorkloads(head, ctx);
      const found = owner('subId', head.subId, ctx);
      if (found instanceof RoutingError) return found;
      return plan({ to: 'cluster', clusterId: found.clusterId }, { subId: found.id });
    },
    cluster: refuse('cluster'),
  },
  subscribed: {
    flow: 'workload cluster -> router (aggregated), router -> client',
    client: refuse('client'),
    cluster: (head, ctx, clusterId) =>
      requireWorkload(head, ctx, clusterId) ?? requireSession(head) ?? toRouter(),
  },
  request: {
    flow: 'workload cluster -> client',
    client: refuse('client'),
    cluster: fromWorkloadToClient,
  },
  response: {
    flow: 'client -> the cluster named in requestId',
    client: toOwnerOfRequest,
    cluster: refuse('cluster'),
  },
  data: requestStream,
  close: requestStream,
  hello: {
    flow: 'cluster -> router (a connector announces itself)',
    client: refuse('client'),
    cluster: toRouter,
  },
  goodbye: {
    flow: 'cluster -> router (a connector replica leaves on purpose)',
    client: refuse('client'),
    cluster: toRouter,
  },
  ping: {
    flow: 'client -> every cluster of the session; cluster -> router (keep-alive)',
    client: () => plan({ to: 'all-clusters' }),
    cluster: toRouter,
  },
  pong: {
    flow: 'cluster -> client (tagged with the cluster); otherwise -> router',
    client: toRouter,
    // A pong without a session answers the router's own keep-alive, not a client's ping.
    cluster: (head) => (head.sessionId === undefined ? toRouter() : toClient(head)),
  },
  'child.create': routerOnly('cluster'),
  'child.ready': lifecycleAnswer,
  'child.failed': lifecycleAnswer,
  'child.close': routerOnly('cluster'),
  'session.status': routerOnly('client'),
  'branch.create': routerOnly('cluster'),
  'branch.delete': routerOnly('cluster'),
  'branch.status': {
    flow: 'default cluster -> router (the sync controller copies it onto the branch)',
    client: refuse('client'),
    cluster: (_head, ctx, clusterId) =>
      clusterId === ctx.defaultId
        ? toRouter()
        : new RoutingError(
            'not_default_cluster',
            `cluster '${clusterId}' is not the default cluster ('${ctx.defaultId}'): only it holds branches`,
            { cluster: clusterId },
          ),
  },
  error: {
    flow: 'both ways: to whoever owns what it names (reqId, subId, requestId, connId)',
    client: (head, ctx) => {
      if (head.requestId !== undefined) return toOwnerOfRequest(head, ctx);
      if (head.connId !== undefined) return toDefault(head, ctx);
      return toRouter();
    },
    cluster: (head, ctx, clusterId) => {
      // A failed subscribe is one cluster's answer: the router aggregates it.
      if (head.subId !== undefined) {
        return requireWorkload(head, ctx, clusterId) ?? requireSession(head) ?? toRouter();
      }
      return head.sessionId === undefined ? toRouter() : toClient(head);
    },
  },
};

/** Cluster-assigned ids must leave room for the namespace the router adds. */
export function checkClusterAssignedId(field: string, value: string): RoutingError | undefined {
  return value.length <= ID_MAX
    ? undefined
    : new RoutingError(
        'invalid_id',
        `${field} "${value.slice(0, 40)}..." is longer than ${ID_MAX} characters`,
        {
          field,
        },
      );
}
