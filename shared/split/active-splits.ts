import { keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';
import type { SplitLogger } from './context.ts';
import { type CompiledFilter, compileFilter } from './filter.ts';
import { asQueueSplit, type QueueSplit } from './model.ts';

export interface ActiveSplit extends QueueSplit {
  compiled: CompiledFilter;
}

interface Entry {
  at: number;
  splits: Promise<ActiveSplit[]>;
}

/** Remembered dead output queues; URLs are never reused (one per session and queue), so this only grows by ended sessions. */
const MAX_GONE = 1_000;

/**
 * The active splits of each logical queue, read from the store at most once per `cacheMs` per
 * process (one query of the queue's partition, already sorted earliest first). Filters are compiled
 * once per registration, not once per read. Output queues that SQS reported missing are left out
 * even while a stale registration still lists them.
 */
export class ActiveSplits {
  private readonly cache = new Map<string, Entry>();
  private readonly compiled = new Map<string, { json: string; filter: CompiledFilter }>();
  private readonly gone = new Set<string>();

  constructor(
    private readonly store: Store,
    private readonly cacheMs: number,
    private readonly now: () => number,
    private readonly logger: SplitLogger,
  ) {}

  /** Sorted earliest registration first (createdAt, then sessionId). `fresh` skips the cache. */
  async get(queue: string, opts?: { fresh?: boolean }): Promise<ActiveSplit[]> {
    const hit = this.cache.get(queue);
    const now = this.now();
    if (!opts?.fresh && hit && now - hit.at < this.cacheMs) return this.alive(await hit.splits);
    // Concurrent batches of one process share one read.
    const splits = this.read(queue);
    this.cache.set(queue, { at: now, splits });
    try {
      return this.alive(await splits);
    } catch (err) {
      if (this.cache.get(queue)?.splits === splits) this.cache.delete(queue);
      throw err;
    }
  }

  /** An output queue SQS says does not exist: never route there again from this process. */
  markGone(url: string): void {
    if (this.gone.size >= MAX_GONE) this.gone.delete(this.gone.values().next().value!);
    this.gone.add(url);
  }

  private alive(splits: ActiveSplit[]): ActiveSplit[] {
    return this.gone.size ? splits.filter((s) => !this.gone.has(s.outputQueueUrl)) : splits;
  }

  private async read(queue: string): Promise<ActiveSplit[]> {
    const items = await this.store.query(keys.queueSplit(queue, 0, '').pk);
    const out: ActiveSplit[] = [];
    for (const item of items) {
      const split = asQueueSplit(item);
      const compiled = this.compile(item.sk, split);
      if (compiled) out.push({ ...split, compiled });
    }
    return out.sort((a, b) =>
      a.createdAt !== b.createdAt
        ? a.createdAt - b.createdAt
        : a.sessionId < b.sessionId
          ? -1
          : a.sessionId > b.sessionId
            ? 1
            : 0,
    );
  }

  private compile(id: string, split: QueueSplit): CompiledFilter | undefined {
    const json = JSON.stringify(split.filter);
    const known = this.compiled.get(id);
    if (known?.json === json) return known.filter;
    try {
      const filter = compileFilter(split.filter);
      this.compiled.set(id, { json, filter });
      return filter;
    } catch (err) {
      // Validated at registration; only a tightened limit gets here. Skipping it sends its
      // messages to the fallback, which is what the consumer would get without the session.
      this.logger.error('stored split filter no longer compiles; ignoring the split', {
        sessionId: split.sessionId,
        queue: split.queue,
        error: (err as Error).message,
      });
      return undefined;
    }
  }
}
