import { readReplicas, removeReplica } from '../clusters/registry.ts';
import { type Replica, replicaTag, statefulReplica } from '../clusters/replica.ts';
import type { Store } from '../store/store.ts';
import type { ReplicaGoneHandler } from './messenger.ts';

/** Posts one message to one connection; false when the connection is gone (410). */
export type Post = (connectionId: string, message: object) => Promise<boolean>;

/**
 * How long an instance trusts its cached replica set before it reads the table again. The
 * table's record is the truth: a replica that reconnected (its new connection replaced the old
 * one in `REPLICA#<id>`) or left is seen by every instance within this bound, not only when a
 * post to the old connection answers 410 (a half-open connection may never answer 410).
 */
export const REPLICA_SET_MAX_AGE_MS = 1_500;

interface CachedSet {
  replicas: { replica: Replica; tag: string }[];
  readAt: number;
}

/**
 * Sends to a cluster's replicas with a per-instance cache of each cluster's replica set:
 * steady state reads nothing (within the bound), a cold or expired set costs one Query of the
 * cluster's partition. A replica found gone (410) is dropped from the cache and from the table
 * (conditional on its connection, so a replica that reconnected meanwhile stays), through the
 * same handling as its $disconnect when the relay gave one (`goneHandler`).
 */
export class ReplicaFanout {
  private readonly sets = new Map<string, CachedSet>();
  /** Bumped by `forget`: a read that was in flight across a change is not cached. */
  private readonly generations = new Map<string, number>();

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly post: Post,
    private readonly maxAgeMs = REPLICA_SET_MAX_AGE_MS,
  ) {}

  /**
   * A tag the cached set does not know re-reads it, but not more often than this: a client can
   * send any tag, and must not buy a table read per frame with made-up ones.
   */
  static readonly MISS_REFRESH_MIN_AGE_MS = 100;

  private mayRefreshOnMiss(clusterId: string): boolean {
    const cached = this.sets.get(clusterId);
    return !cached || this.now() - cached.readAt >= ReplicaFanout.MISS_REFRESH_MIN_AGE_MS;
  }

  forget(clusterId: string): void {
    this.sets.delete(clusterId);
    this.generations.set(clusterId, (this.generations.get(clusterId) ?? 0) + 1);
  }

  private async replicas(clusterId: string, fresh: boolean): Promise<CachedSet['replicas']> {
    const cached = this.sets.get(clusterId);
    const now = this.now();
    if (!fresh && cached && now - cached.readAt < this.maxAgeMs) return cached.replicas;
    const generation = this.generations.get(clusterId);
    const replicas = (await readReplicas(this.store, clusterId)).map((replica) => ({
      replica,
      tag: replicaTag(replica.replicaId),
    }));
    if (this.generations.get(clusterId) === generation) this.sets.set(clusterId, { replicas, readAt: now });
    return replicas;
  }

  /** Handles a replica found gone as its $disconnect would; without it the item is only removed. */
  goneHandler?: ReplicaGoneHandler;

  private async gone(r: Replica): Promise<void> {
    const cached = this.sets.get(r.clusterId);
    if (cached) cached.replicas = cached.replicas.filter((x) => x.replica.connectionId !== r.connectionId);
    if (this.goneHandler) await this.goneHandler(r);
    else await removeReplica(this.store, r.clusterId, r.replicaId, r.connectionId);
  }

  /**
   * Every live replica; true when at least one got it. Reads the set fresh, every time: this
   * carries sessions and subscriptions (control, not traffic), and a replica must never miss
   * one. The caller stored the session or subscription before sending, and a new replica
   * registers before its hello reads the sessions, so with a consistent read here either this
   * send reaches the new replica or its hello finds what was stored:
   *
   *   caller:  store subscription ---- read set ---- send to the set
   *   replica:          register ---------- hello: read sessions ---- child.create (with it)
   *
   * A cached set could be older than the registration and the hello both, and lose it. (On
   * DynamoDB the hello lists a cluster's children through the kind index, which lags writes by
   * up to about a second: a session created in that window and read here before the replica
   * registered reaches the replica when the reconciler re-sends young sessions' children.)
   * `cached`: traffic for every replica (an answer naming no replica) takes the cached view.
   */
  async toAll(clusterId: string, message: object, opts: { cached?: boolean } = {}): Promise<boolean> {
    const tried = new Set<string>();
    let delivered = false;
    for (let pass = 0; pass < 2; pass++) {
      const fresh = pass > 0 || !opts.cached;
      const targets = (await this.replicas(clusterId, fresh)).filter(
        (r) => !tried.has(r.replica.connectionId),
      );
      let anyGone = false;
      await Promise.all(
        targets.map(async ({ replica }) => {
          tried.add(replica.connectionId);
          if (await this.post(replica.connectionId, message)) delivered = true;
          else {
            anyGone = true;
            await this.gone(replica);
          }
        }),
      );
      // A gone connection may be a replica that reconnected: read the set once more and send to
      // the connections not tried yet.
      if (!anyGone) break;
    }
    return delivered;
  }

  /** The stateful replica; the next one when it is gone. Never two: a post either lands or 410s. */
  async toOne(clusterId: string, message: object): Promise<boolean> {
    const tried = new Set<string>();
    for (const fresh of [false, true]) {
      const set = (await this.replicas(clusterId, fresh)).map((r) => r.replica);
      for (;;) {
        const target = statefulReplica(set.filter((r) => !tried.has(r.connectionId)));
        if (!target) break;
        tried.add(target.connectionId);
        if (await this.post(target.connectionId, message)) return true;
        await this.gone(target);
      }
      // Every replica tried was gone: one of them may have reconnected, so read the set once more.
      if (tried.size === 0) break;
    }
    return false;
  }

  /** The replica whose tag a namespaced id carries. */
  async toTagged(clusterId: string, tag: string, message: object): Promise<boolean> {
    let found = (await this.replicas(clusterId, false)).find((r) => r.tag === tag);
    if (!found && this.mayRefreshOnMiss(clusterId)) {
      // A replica that connected through another instance since this one read the set: its
      // stolen requests' answers must not wait for the bound (the replica would serve them from
      // the upstream at its deadline instead).
      found = (await this.replicas(clusterId, true)).find((r) => r.tag === tag);
    }
    if (!found) return false;
    if (await this.post(found.replica.connectionId, message)) return true;
    await this.gone(found.replica);
    // Gone: the replica may have reconnected since the set was read (same id, same tag).
    const again = (await this.replicas(clusterId, true)).find((r) => r.tag === tag);
    if (!again || again.replica.connectionId === found.replica.connectionId) return false;
    if (await this.post(again.replica.connectionId, message)) return true;
    await this.gone(again.replica);
    return false;
  }
}
