import { extendTtl } from '../branches/branches.ts';
import { LAST_SEEN_WRITE_INTERVAL_MS, touchReplica } from '../clusters/registry.ts';
import type { SessionDeps } from '../sessions/lifecycle.ts';
import { heartbeat } from '../sessions/sessions.ts';
import { keys } from '../store/keys.ts';
import type { ConnectionRecord } from './connections.ts';

type Msg = Record<string, unknown> & { type: string };

/**
 * What keeps things alive, written sparingly: a session's heartbeat on its client's pings, and a
 * connector replica's `lastSeen` on its frames, each at most once per interval per instance, so
 * a busy connection costs no write per frame.
 */
export class Liveness {
  private readonly heartbeatWritten = new Map<string, number>();
  private readonly clusterSeenWritten = new Map<string, number>();

  constructor(
    private readonly deps: SessionDeps,
    private readonly reply: (connectionId: string, msg: Msg) => Promise<boolean>,
  ) {}

  /** A replica's connection was just registered (its lastSeen written with it). */
  clusterConnected(connectionId: string, now: number): void {
    this.clusterSeenWritten.set(connectionId, now);
  }

  clusterLeft(connectionId: string): void {
    this.clusterSeenWritten.delete(connectionId);
  }

  /** A client's ping: the session's heartbeat, at most once per quarter timeout, and its branches' TTL. */
  async sessionPing(sessionId: string): Promise<void> {
    const now = this.deps.now();
    const last = this.heartbeatWritten.get(sessionId) ?? 0;
    // One write per quarter timeout is enough to keep a session alive; pings may come faster.
    if (now - last < this.deps.settings.sessionTimeoutMs / 4) return;
    this.heartbeatWritten.set(sessionId, now);
    await heartbeat(this.deps.store, sessionId, now, this.deps.settings);
    // Branches a live session uses stay alive with it.
    // The parent item alone: one item, not the session's whole partition.
    const s = await this.deps.store.get(keys.session(sessionId));
    const branches = s?.branches as Record<string, string> | undefined;
    if (s && branches && Object.keys(branches).length) {
      const until = now + this.deps.settings.sessionTimeoutMs * 2;
      await extendTtl(this.deps.store, Object.values(branches), until, { owner: s.owner as string, now });
    }
  }

  /** lastSeen, at most once per interval; conditional on this connection, so no read is needed first. */
  async clusterFrame(rec: Extract<ConnectionRecord, { role: 'cluster' }>): Promise<void> {
    const now = this.deps.now();
    if (now - (this.clusterSeenWritten.get(rec.connectionId) ?? 0) < LAST_SEEN_WRITE_INTERVAL_MS) return;
    this.clusterSeenWritten.set(rec.connectionId, now);
    if (await touchReplica(this.deps.store, rec.clusterId, rec.replicaId, rec.connectionId, now)) return;
    // A connection that still talks but is no longer its replica's. One process holds one
    // connection at a time, so another connection under the same id is another process: two
    // pods given one replica id (a fixed SWITCHYARD_REPLICA_ID in a Deployment) would silently
    // take the sessions from each other. Say so on the connection; the connector logs it.
    const item = await this.deps.store.get(keys.clusterReplica(rec.clusterId, rec.replicaId));
    // Absent: the connection closed ($disconnect) and this is one of its last frames.
    if (!item) return;
    await this.reply(rec.connectionId, {
      type: 'error',
      code: 'replica_replaced',
      message: `replica id '${rec.replicaId}' of cluster '${rec.clusterId}' is now on another connection, which gets the sessions: give each connector replica its own id (the pod name)`,
    });
  }
}
