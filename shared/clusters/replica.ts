import { createHash } from 'node:crypto';
import type { StoredItem } from '../store/store.ts';

/** One connector replica of a cluster, on its current connection. */
export interface Replica {
  clusterId: string;
  /** Stable per connector process (the pod name in Kubernetes): a reconnect keeps it. */
  replicaId: string;
  connectionId: string;
  /** When this replica first connected (kept across its reconnects): the stateful order. */
  since: number;
  connectedAt: number;
  lastSeen: number;
  services?: string[];
}

/** A replica id: what a pod name (`HOSTNAME`) looks like, at most 63 characters. */
export const REPLICA_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export const isReplicaId = (v: unknown): v is string => typeof v === 'string' && REPLICA_ID.test(v);

/**
 * The replica id of a connection that named none (a connector from before replicas): the
 * connection itself, so it is a replica of its own and a reconnect adds another one until the old
 * connection is found gone (the behaviour such a connector always had).
 */
export function replicaIdOfConnection(connectionId: string): string {
  return `conn-${connectionId.replace(/[^A-Za-z0-9._-]/g, '-')}`.slice(0, 63);
}

/**
 * The short tag a namespaced id carries to name the replica that assigned it (route.ts): a
 * hash, because replica ids are up to 63 characters and namespaced ids must stay within
 * NAMESPACED_ID_MAX. Eight hex digits: a collision among one cluster's few replicas is
 * negligible, and would only send an answer to both replicas, where the one without the
 * request ignores it.
 */
export function replicaTag(replicaId: string): string {
  return createHash('sha256').update(replicaId).digest('hex').slice(0, 8);
}

export const REPLICA_TAG = /^[0-9a-f]{8}$/;

export function replicaFromItem(item: StoredItem): Replica | undefined {
  const { clusterId, replicaId, connectionId, since, connectedAt, lastSeen, services } = item;
  if (typeof clusterId !== 'string' || !isReplicaId(replicaId) || typeof connectionId !== 'string')
    return undefined;
  return {
    clusterId,
    replicaId,
    connectionId,
    since: typeof since === 'number' ? since : 0,
    connectedAt: typeof connectedAt === 'number' ? connectedAt : 0,
    lastSeen: typeof lastSeen === 'number' ? lastSeen : 0,
    ...(Array.isArray(services) ? { services: services.filter((s) => typeof s === 'string') } : {}),
  };
}

/**
 * The replica that answers a cluster's stateful operations: the one connected longest (then by
 * id), so every router instance with the same view picks the same one, a new replica does not
 * move the work (open outgoing tunnels stay where they are), and a reconnect keeps its place.
 */
export function statefulReplica(replicas: readonly Replica[]): Replica | undefined {
  let best: Replica | undefined;
  for (const r of replicas) if (!best || byStatefulOrder(r, best) < 0) best = r;
  return best;
}

/** Oldest first, then by replica id: the order `statefulReplica` picks in. */
export function byStatefulOrder(a: Replica, b: Replica): number {
  if (a.since !== b.since) return a.since - b.since;
  return a.replicaId < b.replicaId ? -1 : a.replicaId > b.replicaId ? 1 : 0;
}
