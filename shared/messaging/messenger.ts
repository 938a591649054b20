import type { CloseReason } from '../protocol/close-codes.ts';

/**
 * How the core reaches connections, without knowing the transport. The Lambda and local runtime
 * implement it with API Gateway's management API; unit tests with a recorder.
 *
 * A cluster is served by one or more connector replicas, each on its own connection.
 */
export interface Messenger {
  /**
   * Sends to every live replica of a cluster (sessions and subscriptions: each replica serves
   * them). False when no replica got it (the cluster is not connected). The replica set is read
   * fresh unless `cached` (traffic that names no replica: a cached view within its bound will do).
   */
  toCluster(clusterId: string, message: object, opts?: { cached?: boolean }): Promise<boolean>;
  /**
   * Sends to the one replica that answers the cluster's stateful operations (env, files, DNS,
   * outgoing, branches); when it is gone, to the next one. False when no replica got it.
   */
  toStatefulReplica(clusterId: string, message: object): Promise<boolean>;
  /** Sends to the replica a namespaced id names (by its tag). False when it is not live. */
  toReplica(clusterId: string, replicaTag: string, message: object): Promise<boolean>;
  /** Sends to one connection. False when the connection is gone (410). */
  toConnection(connectionId: string, message: object): Promise<boolean>;
  /**
   * Closes a connection; a connection already gone is not an error. With `why`, the client is told
   * why (an `error` frame first, then a close frame with `why.code` where the transport can).
   */
  closeConnection(connectionId: string, why?: CloseReason): Promise<void>;
  /** This instance saw a cluster's replicas change ($connect, $disconnect): drop what it cached. */
  replicasChanged?(clusterId: string): void;
  /**
   * Who handles a replica found gone by a post (410), as its $disconnect would (best effort on
   * AWS, it may never come): without one, the replica is only dropped from the table.
   */
  onReplicaGone?(handler: ReplicaGoneHandler): void;
}

export type ReplicaGoneHandler = (replica: {
  clusterId: string;
  replicaId: string;
  connectionId: string;
}) => Promise<void>;
