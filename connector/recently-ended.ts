/**
 * Keys that ended lately (an answered request, a closed tunnel), with the session they were
 * bound to. It tells a late or repeated answer from the rightful session (dropped quietly:
 * a resumed CLI may answer twice, a tunnel may be closed from both ends at once) from anyone
 * else's (refused). Bounded by count, oldest forgotten first; a key forgotten is then simply
 * unknown, and an answer to it is refused like any other.
 */
export class RecentlyEnded {
  private readonly ended = new Map<string, string>();

  constructor(private readonly limit = 4096) {}

  add(key: string, sessionId: string): void {
    this.ended.delete(key);
    this.ended.set(key, sessionId);
    if (this.ended.size > this.limit) {
      const oldest = this.ended.keys().next().value;
      if (oldest !== undefined) this.ended.delete(oldest);
    }
  }

  /** True when `key` ended lately and was bound to `sessionId`. */
  endedFor(key: string, sessionId: string | undefined): boolean {
    return sessionId !== undefined && this.ended.get(key) === sessionId;
  }

  get size(): number {
    return this.ended.size;
  }
}
