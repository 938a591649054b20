import type { CloseReason } from '../protocol/close-codes.ts';

/**
 * How the core reaches connections, without knowing the transport. The Lambda and local runtime
 * implement it with API Gateway's management API; unit tests with a recorder.
 */
export interface Messenger {
  /** Sends to a cluster's connector. False when the cluster is not connected (or its connection is gone). */
  toCluster(clusterId: string, message: object): Promise<boolean>;
  /** Sends to one connection. False when the connection is gone (410). */
  toConnection(connectionId: string, message: object): Promise<boolean>;
  /**
   * Closes a connection; a connection already gone is not an error. With `why`, the client is told
   * why (an `error` frame first, then a close frame with `why.code` where the transport can).
   */
  closeConnection(connectionId: string, why?: CloseReason): Promise<void>;
}
