import type { Messenger, ReplicaGoneHandler } from '../../shared/messaging/messenger.ts';
import { ReplicaFanout } from '../../shared/messaging/replica-fanout.ts';
import type { CloseReason } from '../../shared/protocol/close-codes.ts';
import type { Store } from '../../shared/store/store.ts';
import { CLOSE_CODE_HEADER, CLOSE_REASON_HEADER } from './close-headers.ts';
import type { ConnectionsApi } from './connections-client.ts';

export type FrameEncoder = (message: object) => string[];

const jsonFrames: FrameEncoder = (m) => [JSON.stringify(m)];

/**
 * Messenger over API Gateway's management API (the real one on AWS, the emulated one locally).
 * A 410 means the connection is gone for good: it is never retried, and a replica whose
 * connection is gone is dropped from its cluster. Which connections a cluster has comes from
 * the replica fan-out's per-instance cache, re-checked against the table within a short bound.
 */
export class ApiGatewayMessenger implements Messenger {
  private readonly fanout: ReplicaFanout;

  constructor(
    private readonly connections: ConnectionsApi,
    store: Store,
    now: () => number,
    private readonly encode: FrameEncoder = jsonFrames,
    replicaSetMaxAgeMs?: number,
  ) {
    this.fanout = new ReplicaFanout(store, now, (id, m) => this.toConnection(id, m), replicaSetMaxAgeMs);
  }

  replicasChanged(clusterId: string): void {
    this.fanout.forget(clusterId);
  }

  onReplicaGone(handler: ReplicaGoneHandler): void {
    this.fanout.goneHandler = handler;
  }

  toCluster(clusterId: string, message: object, opts?: { cached?: boolean }): Promise<boolean> {
    return this.fanout.toAll(clusterId, message, opts);
  }

  toStatefulReplica(clusterId: string, message: object): Promise<boolean> {
    return this.fanout.toOne(clusterId, message);
  }

  toReplica(clusterId: string, replicaTag: string, message: object): Promise<boolean> {
    return this.fanout.toTagged(clusterId, replicaTag, message);
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
