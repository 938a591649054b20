import { keys } from '../store/keys.ts';
import { ActiveSplits } from './active-splits.ts';
import { loggerOf, regionOfQueueUrl, type SplitContext, type SplitLogger, sqsIn } from './context.ts';
import { attributesView, type Outgoing, prepare, type SourceRecord } from './message.ts';
import { QueueUrls } from './queue-urls.ts';
import { type Decision, type Destination, decide, destinations } from './route.ts';
import { type Outcome, sendToQueue } from './send.ts';
import { resolveSource, type SplitSource } from './topology-queues.ts';

/** The Lambda partial-batch answer: the ids of the messages to redeliver. */
export interface SplitBatchResult {
  batchItemFailures: { itemIdentifier: string }[];
}

/** One source message on its way: where it goes and how each send went. */
interface Job {
  record: SourceRecord;
  out: Outgoing;
  decision: Decision;
  dests: Destination[];
  outcomes: Map<string, Outcome>;
}

/**
 * The splitter: for each message of a cluster's source queue, a steal match goes to the session's
 * output queue, a mirror match to the output queue and the cluster's fallback queue, no match to
 * the fallback queue. Sends are batched per destination (10 entries / 256 KiB per call).
 *
 * Delivery is at least once: a message counts as processed only when every one of its sends
 * succeeded; otherwise it is reported in `batchItemFailures` and SQS redelivers it, so a mirror
 * whose output send succeeded and whose fallback send failed sends the output copy again (on FIFO
 * queues the deduplication id, the original message id, absorbs that within 5 minutes).
 *
 * Why not Powertools' BatchProcessor / SqsFifoPartialProcessor: they call a handler per record
 * (the FIFO one strictly one after another) and decide success per record as each call returns;
 * here one SendMessageBatch call carries up to ten records to one destination and a record may
 * need several destinations, so success is only known after all calls of the batch. The FIFO rule
 * is kept the same way: the first failure of a group fails the rest of that group.
 *
 * One instance per process: it holds the active-split cache and the fallback queue URLs.
 */
export class Splitter {
  readonly splits: ActiveSplits;
  private readonly urls: QueueUrls;
  private readonly log: SplitLogger;

  constructor(private readonly ctx: SplitContext) {
    this.log = loggerOf(ctx);
    this.splits = new ActiveSplits(ctx.store, ctx.settings.splitCacheMs, ctx.now, this.log);
    this.urls = new QueueUrls(ctx);
  }

  async handle(records: SourceRecord[]): Promise<SplitBatchResult> {
    const failed = new Set<number>();
    const bySource = new Map<string, number[]>();
    records.forEach((r, i) => {
      const list = bySource.get(r.eventSourceARN) ?? [];
      list.push(i);
      bySource.set(r.eventSourceARN, list);
    });
    for (const [arn, indexes] of bySource) {
      const sourceFailed = await this.handleSource(
        arn,
        indexes.map((i) => ({ record: records[i]!, index: i })),
      );
      for (const i of sourceFailed) failed.add(i);
    }
    return {
      batchItemFailures: [...failed]
        .sort((a, b) => a - b)
        .map((i) => ({ itemIdentifier: records[i]!.messageId })),
    };
  }

  /** Returns the batch indexes that failed. */
  private async handleSource(
    arn: string,
    items: { record: SourceRecord; index: number }[],
  ): Promise<number[]> {
    let source: SplitSource;
    let fallbackUrl: string;
    let splits: Awaited<ReturnType<ActiveSplits['get']>>;
    try {
      source = resolveSource(this.ctx.topology, arn);
      [fallbackUrl, splits] = await Promise.all([
        this.urls.get(source.region, source.queue.fallback),
        this.splits.get(source.logical),
      ]);
    } catch (err) {
      // Nothing can be routed safely: every message comes back (and reaches the DLQ if this persists).
      this.log.error('cannot route a batch; all its messages will be redelivered', {
        eventSourceARN: arn,
        error: (err as Error).message,
      });
      return items.map((i) => i.index);
    }
    const jobs: Job[] = items.map(({ record, index }) => {
      const decision = decide(attributesView(record), splits);
      return {
        record,
        out: prepare(record, index, source.cluster.id),
        decision,
        dests: destinations(decision, fallbackUrl),
        outcomes: new Map(),
      };
    });

    // Counters go alongside the sends, so their write adds no latency to the batch.
    const counted = this.count(source.logical, jobs);
    if (source.fifo) {
      // Outputs first, then the fallback: a message whose output queue vanished is re-routed to
      // the fallback before the later messages of its group are sent there, keeping group order.
      await this.sendPhase(jobs, source, (d) => d.kind === 'output');
      await this.reroute(jobs, source, fallbackUrl);
      await this.sendPhase(jobs, source, () => true);
    } else {
      await this.sendPhase(jobs, source, () => true);
      if (await this.reroute(jobs, source, fallbackUrl)) await this.sendPhase(jobs, source, () => true);
    }

    const failedJobs = new Set(jobs.filter((j) => !succeeded(j)));
    if (source.fifo) failGroupTails(jobs, failedJobs);
    if (jobs.some((j) => j.outcomes.get(fallbackUrl) === 'gone')) {
      this.urls.forget(source.region, source.queue.fallback);
    }
    await counted;
    return [...failedJobs].map((j) => j.out.index);
  }

  /** Sends every job's not-yet-sent destinations that `pick` selects, grouped per queue, in batch order. */
  private async sendPhase(jobs: Job[], source: SplitSource, pick: (d: Destination) => boolean) {
    const perQueue = new Map<string, Outgoing[]>();
    const firstFailure = source.fifo ? firstFailureByGroup(jobs) : new Map<string | undefined, number>();
    for (const job of jobs) {
      for (const d of job.dests) {
        if (!pick(d) || job.outcomes.has(d.url)) continue;
        if (job.out.index >= (firstFailure.get(job.out.groupId) ?? Number.POSITIVE_INFINITY)) {
          job.outcomes.set(d.url, 'failed'); // it, or an earlier message of its group, failed: do not overtake
          continue;
        }
        const list = perQueue.get(d.url) ?? [];
        list.push(job.out);
        perQueue.set(d.url, list);
      }
    }
    const byIndex = new Map(jobs.map((j) => [j.out.index, j]));
    await Promise.all(
      [...perQueue].map(async ([url, outs]) => {
        const client = sqsIn(this.ctx, regionOfQueueUrl(url) ?? source.region);
        const result = await sendToQueue({ client, url, fifo: source.fifo }, outs, source.fifo, this.log);
        for (const [index, outcome] of result) byIndex.get(index)!.outcomes.set(url, outcome);
      }),
    );
  }

  /**
   * An output queue that no longer exists belongs to a session that ended while this process's
   * view was stale. Re-read the registrations (fresh), leave that queue out for good, and route the
   * affected messages again: usually to the fallback, or to the next session that matched.
   * Returns whether any message got a new destination.
   */
  private async reroute(jobs: Job[], source: SplitSource, fallbackUrl: string): Promise<boolean> {
    const goneOutputs = new Set<string>();
    for (const j of jobs) {
      for (const d of j.dests)
        if (d.kind === 'output' && j.outcomes.get(d.url) === 'gone') goneOutputs.add(d.url);
    }
    if (goneOutputs.size === 0) return false;
    for (const url of goneOutputs) this.splits.markGone(url);
    this.log.info('output queue gone; re-routing its messages', {
      queue: source.logical,
      urls: [...goneOutputs],
    });
    let splits: Awaited<ReturnType<ActiveSplits['get']>>;
    try {
      splits = await this.splits.get(source.logical, { fresh: true });
    } catch (err) {
      this.log.error('cannot re-read splits; the affected messages will be redelivered', {
        error: (err as Error).message,
      });
      return false;
    }
    let changed = false;
    for (const j of jobs) {
      if (!j.dests.some((d) => goneOutputs.has(d.url))) continue;
      const decision = decide(attributesView(j.record), splits);
      const kept = j.dests.filter((d) => !goneOutputs.has(d.url));
      const added = destinations(decision, fallbackUrl).filter((d) => !kept.some((k) => k.url === d.url));
      for (const d of j.dests) if (goneOutputs.has(d.url)) j.outcomes.delete(d.url);
      j.decision = decision;
      j.dests = [...kept, ...added];
      changed ||= added.length > 0;
    }
    return changed;
  }

  /**
   * One counter update per session per batch: `matched` for the session a message was routed to,
   * `lost` for a later session whose filter matched too. Counted from the routing decisions while
   * the sends run, so a message that fails and comes back is counted again (at least once, like
   * the delivery). Best effort: a failed counter update never fails the batch.
   */
  private async count(queue: string, jobs: Job[]) {
    const counts = new Map<string, { matched: number; lost: number }>();
    const bump = (sessionId: string, field: 'matched' | 'lost') => {
      const c = counts.get(sessionId) ?? { matched: 0, lost: 0 };
      c[field]++;
      counts.set(sessionId, c);
    };
    for (const j of jobs) {
      if (j.decision.winner) bump(j.decision.winner.sessionId, 'matched');
      for (const l of j.decision.losers) bump(l.sessionId, 'lost');
    }
    await Promise.all(
      [...counts].map(async ([sessionId, c]) => {
        const add: Record<string, number> = {};
        if (c.matched) add.matched = c.matched;
        if (c.lost) add.lost = c.lost;
        try {
          await this.ctx.store.update(keys.sessionSplit(sessionId, queue), {}, { add });
        } catch (err) {
          this.log.warn('could not update split counters', {
            sessionId,
            queue,
            error: (err as Error).message,
          });
        }
      }),
    );
  }
}

function succeeded(j: Job): boolean {
  return j.dests.every((d) => j.outcomes.get(d.url) === 'ok');
}

/** FIFO: batch index of each group's first message that already failed a send. */
function firstFailureByGroup(jobs: Job[]): Map<string | undefined, number> {
  const first = new Map<string | undefined, number>();
  for (const j of jobs) {
    if (first.has(j.out.groupId)) continue;
    if ([...j.outcomes.values()].some((o) => o !== 'ok')) first.set(j.out.groupId, j.out.index);
  }
  return first;
}

/** FIFO: the first failure of a group fails every later message of that group in the batch. */
function failGroupTails(jobs: Job[], failed: Set<Job>) {
  const broken = new Set<string | undefined>();
  for (const j of jobs) {
    if (broken.has(j.out.groupId)) failed.add(j);
    else if (failed.has(j)) broken.add(j.out.groupId);
  }
}

export function createSplitter(ctx: SplitContext): Splitter {
  return new Splitter(ctx);
}
