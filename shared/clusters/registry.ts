import type { Topology } from '../config/topology.ts';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store, StoredItem } from '../store/store.ts';
import { byStatefulOrder, type Replica, replicaFromItem } from './replica.ts';

/**
 * Which connector replicas of each cluster are connected. One item per replica
 * (`CLUSTER#<id>` / `REPLICA#<replicaId>`), so:
 * - replicas never contend for one item (no 400 KB list, no version race between pods);
 * - one consistent Query of the cluster's partition is the live set (one read, cold);
 * - every write is conditional on the replica's own connection id.
 *
 * A cluster is connected while at least one replica item exists.
 */

/** A cluster's connection state, as `/v1/clusters` and the CLI show it. */
export interface ClusterState {
  id: string;
  connected: boolean;
  replicas: Replica[];
  /** Latest lastSeen of any replica. */
  lastSeen?: number;
  /** Services the replicas reported in their hello (the union). */
  services?: string[];
}

/** lastSeen is refreshed at most this often, so a busy connector costs no write per message. */
export const LAST_SEEN_WRITE_INTERVAL_MS = 10_000;

/** Replica items outlive no connection: API Gateway closes a connection after 2 h. */
const REPLICA_TTL_MS = 3 * 60 * 60 * 1000;

function stateOf(id: string, replicas: Replica[]): ClusterState {
  const sorted = [...replicas].sort(byStatefulOrder);
  const lastSeen = Math.max(0, ...sorted.map((r) => r.lastSeen));
  const services = [...new Set(sorted.flatMap((r) => r.services ?? []))].sort();
  return {
    id,
    connected: sorted.length > 0,
    replicas: sorted,
    ...(lastSeen ? { lastSeen } : {}),
    ...(services.length ? { services } : {}),
  };
}

const replicasIn = (items: StoredItem[]): Replica[] =>
  items.filter((i) => i.kind === KINDS.clusterReplica).flatMap((i) => replicaFromItem(i) ?? []);

/** The live replica set of one cluster: one (consistent) Query of its partition. */
export async function readReplicas(store: Store, clusterId: string): Promise<Replica[]> {
  return stateOf(clusterId, replicasIn(await store.query(`CLUSTER#${clusterId}`, { skPrefix: 'REPLICA#' })))
    .replicas;
}

export async function getCluster(store: Store, id: string): Promise<ClusterState> {
  return stateOf(id, await readReplicas(store, id));
}

export async function listClusters(store: Store, topology: Topology): Promise<ClusterState[]> {
  const all = replicasIn(await store.listByKind(KINDS.clusterReplica));
  return topology.clusters.map((c) =>
    stateOf(
      c.id,
      all.filter((r) => r.clusterId === c.id),
    ),
  );
}

/**
 * A replica's connection opened: it becomes (or stays) one of the cluster's replicas, on this
 * connection. The same replica id on a new connection replaces its old connection, keeping
 * `since` (the replica's place in the stateful order: a reconnect does not move the sessions'
 * stateful replica). A different replica id adds a replica.
 *
 * Two steps without a transaction, each conditional:
 *
 *   update (item exists)  --ConditionFailed-->  put (item absent)  --ConditionFailed--> again
 *
 * The loop ends because each failure means another writer changed the item in between; the last
 * writer of the connection id wins, which is the newest $connect of this replica: a connector
 * dials a new connection only after its old one was accepted (or refused), so the $connect of
 * the old connection has returned before the new one starts.
 */
export async function registerReplica(
  store: Store,
  clusterId: string,
  replicaId: string,
  connectionId: string,
  now: number,
): Promise<void> {
  const key = keys.clusterReplica(clusterId, replicaId);
  const fresh = { connectionId, connectedAt: now, lastSeen: now, expiresAt: now + REPLICA_TTL_MS };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await store.update(key, fresh, { conditions: [{ type: 'exists' }], remove: ['services'] });
      return;
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
    try {
      await store.put(
        { ...key, kind: KINDS.clusterReplica, clusterId, replicaId, since: now, ...fresh },
        { conditions: [{ type: 'absent' }] },
      );
      return;
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
  throw new Error(`could not register replica '${replicaId}' of cluster '${clusterId}': too much contention`);
}

const onThisConnection = (connectionId: string) => ({
  conditions: [{ type: 'equals' as const, attr: 'connectionId', value: connectionId }],
});

/** The replica's hello: its services. False when the connection is no longer the replica's. */
export async function recordHello(
  store: Store,
  clusterId: string,
  replicaId: string,
  connectionId: string,
  services: string[],
  now: number,
): Promise<boolean> {
  try {
    await store.update(
      keys.clusterReplica(clusterId, replicaId),
      { services, lastSeen: now },
      onThisConnection(connectionId),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}

/**
 * What removing a replica's connection found: it removed the replica (as it was), the replica
 * had already moved to a newer connection, or the replica was already gone (a post to its
 * connection answered 410 first).
 */
export type Removal = { removed: Replica } | { replaced: true } | { absent: true };

/**
 * A replica's connection closed (or answered 410). Conditional on the connection id, because
 * `$disconnect` is best effort and may arrive late:
 *
 *   replica r, conn 1 ----x (drops)                  $disconnect(conn 1) arrives late
 *   replica r, conn 2        --- $connect(conn 2) ---------------|------>
 *                                 REPLICA#r.connectionId = 2     ^ condition fails: r stays
 */
export async function removeReplica(
  store: Store,
  clusterId: string,
  replicaId: string,
  connectionId: string,
): Promise<Removal> {
  const key = keys.clusterReplica(clusterId, replicaId);
  for (let attempt = 0; attempt < 3; attempt++) {
    const item = await store.get(key);
    if (!item) return { absent: true };
    if (item.connectionId !== connectionId) return { replaced: true };
    try {
      await store.delete(key, onThisConnection(connectionId));
      const removed = replicaFromItem(item);
      return removed ? { removed } : { absent: true };
    } catch (err) {
      // Changed between the read and the delete: read again to say what it became.
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
  return { replaced: true };
}

/** Refreshes a replica's lastSeen; conditional on its connection, so no read is needed first. */
export async function touchReplica(
  store: Store,
  clusterId: string,
  replicaId: string,
  connectionId: string,
  now: number,
): Promise<boolean> {
  try {
    await store.update(
      keys.clusterReplica(clusterId, replicaId),
      { lastSeen: now },
      onThisConnection(connectionId),
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}
