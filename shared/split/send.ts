import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SplitLogger } from './context.ts';
import { chunk, type Outgoing, SQS_LIMITS, toEntry } from './message.ts';

/** ok: SQS accepted it. failed: rejected or unknown (retry by redelivery). gone: the queue does not exist. */
export type Outcome = 'ok' | 'failed' | 'gone';

/** The names SQS uses for a missing queue (JSON protocol, and the query-protocol compatible one). */
export function isQueueGone(err: unknown): boolean {
  const e = err as { name?: string; Code?: string; code?: string } | undefined;
  return [e?.name, e?.Code, e?.code].some(
    (n) => n === 'QueueDoesNotExist' || n === 'AWS.SimpleQueueService.NonExistentQueue',
  );
}

/** Parallel SendMessageBatch calls per destination for standard queues. */
const PARALLEL_CALLS = 8;

export interface QueueTarget {
  client: SQSClient;
  url: string;
  fifo: boolean;
}

async function sendBatch(
  target: QueueTarget,
  batch: Outgoing[],
  logger: SplitLogger,
): Promise<Map<number, Outcome>> {
  const out = new Map<number, Outcome>();
  const idOf = (o: Outgoing) => `m${o.index}`;
  try {
    const res = await target.client.send(
      new SendMessageBatchCommand({
        QueueUrl: target.url,
        Entries: batch.map((o) => toEntry(o, idOf(o), target.fifo)),
      }),
    );
    const ok = new Set((res.Successful ?? []).map((s) => s.Id));
    const failed = res.Failed ?? [];
    if (failed.length) {
      logger.warn('SQS rejected some entries; their source messages will be redelivered', {
        queueUrl: target.url,
        failed: failed.map((f) => ({ code: f.Code, senderFault: f.SenderFault, message: f.Message })),
      });
    }
    for (const o of batch) out.set(o.index, ok.has(idOf(o)) ? 'ok' : 'failed');
  } catch (err) {
    const gone = isQueueGone(err);
    if (!gone) {
      logger.warn('SendMessageBatch failed; its source messages will be redelivered', {
        queueUrl: target.url,
        error: (err as Error).name,
        message: (err as Error).message,
      });
    }
    for (const o of batch) out.set(o.index, gone ? 'gone' : 'failed');
  }
  return out;
}

async function inParallel<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Sends messages to one queue in batches of 10 / 256 KiB; the outcome of each message by `index`.
 *
 * `ordered` (FIFO): batches go one after another, and once a message of a group failed, the later
 * messages of that group are not sent (they would overtake it) but reported failed, so all of them
 * come back, in order, by redelivery. Otherwise batches go in parallel.
 */
export async function sendToQueue(
  target: QueueTarget,
  items: Outgoing[],
  ordered: boolean,
  logger: SplitLogger,
): Promise<Map<number, Outcome>> {
  const out = new Map<number, Outcome>();
  if (!ordered) {
    const results = await inParallel(chunk(items), PARALLEL_CALLS, (b) => sendBatch(target, b, logger));
    for (const r of results) for (const [i, o] of r) out.set(i, o);
    return out;
  }
  const failedGroups = new Set<string | undefined>();
  let i = 0;
  while (i < items.length) {
    const batch: Outgoing[] = [];
    let bytes = 0;
    for (; i < items.length; i++) {
      const o = items[i]!;
      if (failedGroups.has(o.groupId)) {
        out.set(o.index, 'failed');
        continue;
      }
      if (
        batch.length &&
        (batch.length >= SQS_LIMITS.entriesPerBatch || bytes + o.size > SQS_LIMITS.batchBytes)
      ) {
        break;
      }
      batch.push(o);
      bytes += o.size;
    }
    if (!batch.length) break;
    const result = await sendBatch(target, batch, logger);
    for (const o of batch) {
      const outcome = result.get(o.index)!;
      out.set(o.index, outcome);
      if (outcome !== 'ok') failedGroups.add(o.groupId);
    }
    if ([...result.values()].includes('gone')) {
      for (; i < items.length; i++) out.set(items[i]!.index, 'gone');
    }
  }
  return out;
}
