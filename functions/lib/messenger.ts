import { getCluster, markDisconnected } from '../../shared/clusters/registry.ts';
import type { Messenger } from '../../shared/messaging/messenger.ts';
import type { CloseReason } from '../../shared/protocol/close-codes.ts';
import type { Store } from '../../shared/store/store.ts';
import { CLOSE_CODE_HEADER, CLOSE_REASON_HEADER } from './close-headers.ts';
import type { ConnectionsApi } from './connections-client.ts';

export type FrameEncoder = (message: object) => string[];

const jsonFrames: FrameEncoder = (m) => [JSON.stringify(m)];

/**
 * Messenger over API Gateway's management API (the real one on AWS, the emulated one locally).
 * A 410 means the connection is gone for good: it is never retried, and a cluster whose
 * connection is gone is marked disconnected.
 */
export class ApiGatewayMessenger implements Messenger {
  /** Cluster id -> connection id, so steady-state routing reads nothing from the table. */
  private readonly clusterConnections = new Map<string, string>();

  constructor(
    private readonly connections: ConnectionsApi,
    private readonly store: Store,
    private readonly now: () => number,
    private readonly encode: FrameEncoder = jsonFrames,
  ) {}

  /** Forget a cached connection (on $disconnect, or when a newer connection replaced it). */
  forgetCluster(clusterId: string): void {
    this.clusterConnections.delete(clusterId);
  }

  rememberCluster(clusterId: string, connectionId: string): void {
    this.clusterConnections.set(clusterId, connectionId);
  }

  async toCluster(clusterId: string, message: object): Promise<boolean> {
    for (let attempt = 0; attempt < 2; attempt++) {
      let connectionId = this.clusterConnections.get(clusterId);
      if (!connectionId) {
        const state = await getCluster(this.store, clusterId);
        if (!state.connected || !state.connectionId) return false;
        connectionId = state.connectionId;
        this.clusterConnections.set(clusterId, connectionId);
      }
      if (await this.toConnection(connectionId, message)) return true;
      // Gone: the cached id may be stale (the connector reconnected elsewhere); re-read once.
      this.clusterConnections.delete(clusterId);
      if (attempt === 1 || !(await this.connectionChanged(clusterId, connectionId))) {
        await markDisconnected(this.store, clusterId, connectionId, this.now());
        return false;
      }
    }
    return false;
  }

  private async connectionChanged(clusterId: string, staleId: string): Promise<boolean> {
    const state = await getCluster(this.store, clusterId);
    return state.connected && !!state.connectionId && state.connectionId !== staleId;
  }

  async toConnection(connectionId: string, message: object): Promise<boolean> {
    for (const frame of this.encode(message)) {
      if (!(await this.connections.post(connectionId, Buffer.from(frame, 'utf8')))) return false;
    }
    return true;
  }

  /**
   * DeleteConnection carries no close code: with `why`, the client first gets an `error` frame
   * naming it (`code`, `message`, `closeCode`), which is all a client on AWS learns. The code
   * also rides on the request in `CLOSE_CODE_HEADER`, which API Gateway ignores and the local
   * gateway honours with a real close frame.
   */
  async closeConnection(connectionId: string, why?: CloseReason): Promise<void> {
    if (why) {
      const told = await this.toConnection(connectionId, {
        v: 1,
        type: 'error',
        code: why.name,
        message: why.reason,
        closeCode: why.code,
      });
      if (!told) return; // gone already
    }
    // Unsigned extras: API Gateway checks the signed headers only.
    await this.connections.remove(
      connectionId,
      why
        ? { [CLOSE_CODE_HEADER]: String(why.code), [CLOSE_REASON_HEADER]: encodeURIComponent(why.reason) }
        : undefined,
    );
  }
}
