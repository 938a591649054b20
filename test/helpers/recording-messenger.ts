import type { Messenger } from '../../shared/messaging/messenger.ts';
import type { CloseReason } from '../../shared/protocol/close-codes.ts';

/** A Messenger for unit tests: records what was sent; clusters not in `connected` are unreachable. */
export class RecordingMessenger implements Messenger {
  readonly toClusters: { clusterId: string; message: Record<string, unknown>; via?: string }[] = [];
  readonly toConnections: { connectionId: string; message: Record<string, unknown> }[] = [];
  readonly closed: string[] = [];

  constructor(
    public connected: Set<string>,
    public liveConnections = new Set<string>(),
  ) {}

  async toCluster(clusterId: string, message: object): Promise<boolean> {
    if (!this.connected.has(clusterId)) return false;
    this.toClusters.push({ clusterId, message: message as Record<string, unknown> });
    return true;
  }

  /** One replica per cluster here: recorded like a send to the cluster, with `via`. */
  async toStatefulReplica(clusterId: string, message: object): Promise<boolean> {
    if (!this.connected.has(clusterId)) return false;
    this.toClusters.push({ clusterId, message: message as Record<string, unknown>, via: 'stateful' });
    return true;
  }

  async toReplica(clusterId: string, replicaTag: string, message: object): Promise<boolean> {
    if (!this.connected.has(clusterId)) return false;
    this.toClusters.push({ clusterId, message: message as Record<string, unknown>, via: replicaTag });
    return true;
  }

  async toConnection(connectionId: string, message: object): Promise<boolean> {
    if (!this.liveConnections.has(connectionId)) return false;
    this.toConnections.push({ connectionId, message: message as Record<string, unknown> });
    return true;
  }

  /** Why each closed connection was closed, when a reason was given. */
  readonly closeReasons = new Map<string, CloseReason>();

  async closeConnection(connectionId: string, why?: CloseReason): Promise<void> {
    this.liveConnections.delete(connectionId);
    this.closed.push(connectionId);
    if (why) this.closeReasons.set(connectionId, why);
  }

  sentTypes(clusterId: string): string[] {
    return this.toClusters.filter((m) => m.clusterId === clusterId).map((m) => m.message.type as string);
  }
}
