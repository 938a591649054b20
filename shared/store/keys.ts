import type { Key } from './store.ts';

/**
 * Single-table key layout (DESIGN.md). Every item kind has its own partition prefix; a session's
 * children live in the session's partition so one query reads the whole fleet.
 */
export const keys = {
  session: (id: string): Key => ({ pk: `SESSION#${id}`, sk: 'SESSION' }),
  child: (sessionId: string, clusterId: string): Key => ({
    pk: `SESSION#${sessionId}`,
    sk: `CHILD#${clusterId}`,
  }),
  sessionSplit: (sessionId: string, queue: string): Key => ({
    pk: `SESSION#${sessionId}`,
    sk: `SPLIT#${queue}`,
  }),
  /** Active splits of one logical queue, sorted by creation time so the earliest session wins. */
  queueSplit: (queue: string, createdAt: number, sessionId: string): Key => ({
    pk: `SPLIT#${queue}`,
    sk: `${String(createdAt).padStart(15, '0')}#${sessionId}`,
  }),
  cluster: (id: string): Key => ({ pk: `CLUSTER#${id}`, sk: 'CLUSTER' }),
  /** One connector replica of a cluster, in the cluster's partition: one query reads the live set. */
  clusterReplica: (clusterId: string, replicaId: string): Key => ({
    pk: `CLUSTER#${clusterId}`,
    sk: `REPLICA#${replicaId}`,
  }),
  connection: (id: string): Key => ({ pk: `CONN#${id}`, sk: 'CONN' }),
  branch: (id: string): Key => ({ pk: `BRANCH#${id}`, sk: 'BRANCH' }),
  lease: (name: string): Key => ({ pk: `LEASE#${name}`, sk: 'LEASE' }),
  token: (hash: string): Key => ({ pk: `TOKEN#${hash}`, sk: 'TOKEN' }),
} as const;

export const KINDS = {
  session: 'SESSION',
  /** A subscribe waiting for its clusters' answers (in the session's partition). */
  subscribeAggregate: 'SESSION_SUBREQ',
  child: 'CHILD',
  sessionSplit: 'SESSION_SPLIT',
  queueSplit: 'QUEUE_SPLIT',
  cluster: 'CLUSTER',
  clusterReplica: 'CLUSTER_REPLICA',
  connection: 'CONN',
  branch: 'BRANCH',
  lease: 'LEASE',
  token: 'TOKEN',
} as const;
