import {
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { defaultCluster } from '../config/topology.ts';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import { loggerOf, type SplitContext, sqsIn } from './context.ts';
import { ATTR_CLUSTER, type Outgoing, prepare } from './message.ts';
import { asSessionSplit, type SessionSplit } from './model.ts';
import { QueueUrls } from './queue-urls.ts';
import { fromReceived } from './received.ts';
import { isQueueGone, sendToQueue } from './send.ts';
import { type QueueDeclaration, splitQueue } from './topology-queues.ts';

/**
 * The reconciler duty that retires ended splits' output queues.
 *
 *   end ──(splitCacheMs + splitSendGraceMs)── quiet ─────────── drainDeadline ──(+ visibility)── hard stop
 *   │ splitters may still route here        │ delete once empty   │ move leftovers, delete      │ delete
 *
 * - Nothing is deleted before the quiet point: a splitter whose cached view predates the end may
 *   still be sending, and a message sent between our last look and DeleteQueue would vanish.
 * - Between quiet and the deadline the queue is deleted as soon as it is empty, so the developer's
 *   consumer can finish what it has.
 * - Past the deadline, leftovers are not dropped: a stolen message is sent back to the fallback
 *   queue of the cluster it came from (`switchyard.cluster`), so that cluster's consumer still
 *   gets it; a mirrored copy is deleted, because its original already went to the fallback.
 *   Messages a consumer still holds (in flight) are waited for until their visibility timeout
 *   could have run out, then moved the same way; only what is still held after that is abandoned,
 *   counted and logged.
 *
 * Every step is idempotent and reads its state from the store and SQS, so a run cut short is
 * finished by the next one.
 */
/** How long a retired split's status (and its counters) stays readable before TTL may collect it. */
export const RETIRED_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Receive calls per split per run, so one run stays short; the next run continues. */
const MAX_RECEIVES_PER_RUN = 50;

export interface RetireResult {
  /** Draining splits looked at. */
  checked: number;
  /** `sessionId/queue` of the splits retired in this run. */
  retired: string[];
  returned: number;
  discarded: number;
}

interface QueueState {
  visible: number;
  inFlight: number;
  delayed: number;
  visibilityTimeoutMs: number;
}

async function queueState(sqs: SQSClient, url: string): Promise<QueueState> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
        'VisibilityTimeout',
      ],
    }),
  );
  const n = (name: string) => Number(out.Attributes?.[name as keyof typeof out.Attributes] ?? 0);
  return {
    visible: n('ApproximateNumberOfMessages'),
    inFlight: n('ApproximateNumberOfMessagesNotVisible'),
    delayed: n('ApproximateNumberOfMessagesDelayed'),
    visibilityTimeoutMs: n('VisibilityTimeout') * 1000,
  };
}

async function outputUrl(ctx: SplitContext, split: SessionSplit): Promise<string | undefined> {
  if (split.outputQueueUrl) return split.outputQueueUrl;
  // Registration may have created the queue and died before recording its URL.
  try {
    const out = await sqsIn(ctx, split.outputRegion).send(
      new GetQueueUrlCommand({ QueueName: split.outputQueueName }),
    );
    return out.QueueUrl;
  } catch (err) {
    if (isQueueGone(err)) return undefined;
    throw err;
  }
}

/** Where a stolen message goes back to: its cluster's fallback, or the default cluster's when the message had no room to say. */
function homeOf(ctx: SplitContext, split: SessionSplit, m: Message): QueueDeclaration {
  const declarations = splitQueue(ctx.topology, split.queue).declarations;
  const cluster = m.MessageAttributes?.[ATTR_CLUSTER]?.StringValue;
  const byCluster = declarations.find((d) => d.cluster.id === cluster);
  if (byCluster) return byCluster;
  const def = defaultCluster(ctx.topology).id;
  return declarations.find((d) => d.cluster.id === def) ?? declarations[0]!;
}

interface Drained {
  returned: number;
  discarded: number;
  /** The receive budget ran out before the queue looked empty. */
  more: boolean;
}

/** Empties the output queue: steal leftovers go back to their cluster's fallback, mirror copies are dropped. */
async function drainLeftovers(ctx: SplitContext, split: SessionSplit, url: string): Promise<Drained> {
  const log = loggerOf(ctx);
  const sqs = sqsIn(ctx, split.outputRegion);
  const urls = new QueueUrls(ctx);
  const result: Drained = { returned: 0, discarded: 0, more: true };
  for (let round = 0; round < MAX_RECEIVES_PER_RUN; round++) {
    const received = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
        VisibilityTimeout: 60,
        // Long polling asks every SQS server, so an empty answer means empty (short polling samples).
        WaitTimeSeconds: 1,
      }),
    );
    const messages = received.Messages ?? [];
    if (messages.length === 0) {
      result.more = false;
      return result;
    }
    const done: Message[] = [];
    if (split.mode === 'mirror') {
      done.push(...messages);
      result.discarded += messages.length;
    } else {
      const byHome = new Map<QueueDeclaration, { m: Message; out: Outgoing }[]>();
      messages.forEach((m, i) => {
        const home = homeOf(ctx, split, m);
        const list = byHome.get(home) ?? [];
        list.push({ m, out: prepare(fromReceived(m, ''), i, home.cluster.id) });
        byHome.set(home, list);
      });
      for (const [home, items] of byHome) {
        const fallbackUrl = await urls.get(home.region, home.queue.fallback);
        const outcomes = await sendToQueue(
          { client: sqsIn(ctx, home.region), url: fallbackUrl, fifo: split.fifo },
          items.map((x) => x.out),
          split.fifo,
          log,
        );
        for (const x of items) if (outcomes.get(x.out.index) === 'ok') done.push(x.m);
      }
      result.returned += done.length;
    }
    if (done.length) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: done.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    // Unsent messages become visible again after the receive's visibility timeout; the next run retries.
    if (done.length < messages.length) return result;
  }
  return result;
}

async function markRetired(
  ctx: SplitContext,
  split: SessionSplit,
  add: Record<string, number>,
): Promise<void> {
  try {
    await ctx.store.update(
      keys.sessionSplit(split.sessionId, split.queue),
      { status: 'retired', retiredAt: ctx.now(), expiresAt: ctx.now() + RETIRED_RETENTION_MS },
      { conditions: [{ type: 'equals', attr: 'status', value: 'draining' }], add },
    );
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err; // another run retired it first
  }
}

async function retireOne(ctx: SplitContext, split: SessionSplit, result: RetireResult): Promise<void> {
  const now = ctx.now();
  const endedAt = split.endedAt ?? 0;
  const deadline = split.drainDeadline ?? endedAt;
  // A registration written by a registration that raced the end: make sure no splitter reads it.
  await ctx.store.delete(keys.queueSplit(split.queue, split.createdAt, split.sessionId));
  if (now < endedAt + ctx.settings.splitCacheMs + ctx.settings.splitSendGraceMs) return;

  const url = await outputUrl(ctx, split);
  const sqs = sqsIn(ctx, split.outputRegion);
  let state: QueueState;
  try {
    if (!url) throw Object.assign(new Error('no output queue'), { name: 'QueueDoesNotExist' });
    state = await queueState(sqs, url);
  } catch (err) {
    if (!isQueueGone(err)) throw err;
    await markRetired(ctx, split, {}); // never created, or deleted by an earlier run
    result.retired.push(`${split.sessionId}/${split.queue}`);
    return;
  }
  const empty = state.visible + state.inFlight + state.delayed === 0;
  if (!empty && now < deadline) return; // the developer's consumer may still drain it

  const drained = await drainLeftovers(ctx, split, url!);
  result.returned += drained.returned;
  result.discarded += drained.discarded;
  const counted: Record<string, number> = {};
  if (drained.returned) counted.returned = drained.returned;
  if (drained.discarded) counted.discarded = drained.discarded;
  const after = drained.more ? undefined : await queueState(sqs, url!);
  const held = after ? after.inFlight + after.delayed : 1;
  const hardStop = deadline + state.visibilityTimeoutMs + ctx.settings.splitSendGraceMs;
  if (drained.more || (held > 0 && now < hardStop)) {
    // Come back on the next run; keep what this run moved on the record.
    if (Object.keys(counted).length) {
      await ctx.store.update(keys.sessionSplit(split.sessionId, split.queue), {}, { add: counted });
    }
    return;
  }
  if (held > 0) {
    loggerOf(ctx).error('deleting an output queue whose messages a consumer still holds', {
      sessionId: split.sessionId,
      queue: split.queue,
      abandoned: held,
    });
    counted.abandoned = held;
  }
  try {
    await sqs.send(new DeleteQueueCommand({ QueueUrl: url }));
  } catch (err) {
    if (!isQueueGone(err)) throw err;
  }
  await markRetired(ctx, split, counted);
  result.retired.push(`${split.sessionId}/${split.queue}`);
}

export async function retireDrainedSplitQueues(
  ctx: SplitContext,
  opts: { shouldStop?: () => boolean } = {},
): Promise<RetireResult> {
  const result: RetireResult = { checked: 0, retired: [], returned: 0, discarded: 0 };
  const items = await ctx.store.listByKind(KINDS.sessionSplit);
  for (const item of items) {
    const split = asSessionSplit(item);
    if (split.status !== 'draining') continue;
    if (opts.shouldStop?.()) break; // the lease is ending: the next leader's run carries on
    result.checked++;
    try {
      await retireOne(ctx, split, result);
    } catch (err) {
      // One stuck queue must not stop the others; the next run tries again.
      loggerOf(ctx).error('could not retire a split output queue', {
        sessionId: split.sessionId,
        queue: split.queue,
        error: (err as Error).message,
      });
    }
  }
  return result;
}
