import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import { loggerOf, type SplitContext, sqsIn } from './context.ts';
import { asSessionSplit, outputQueueAttributes, type SessionSplit } from './model.ts';

export interface RestoreSplitQueuesResult {
  /** Active splits whose output queue was created again (or found). */
  restored: number;
  /** `sessionId/queue` of the splits whose queue came back under another URL (recorded in the store). */
  moved: string[];
  /** `sessionId/queue` of the splits whose queue could not be created (logged; retried at the next start). */
  failed: string[];
}

/**
 * Creates the output queues of every active split again. Meant for an SQS that lost its queues
 * while the split's state survived: the local runtime's embedded SQS is in memory, its table is
 * not. CreateQueue is idempotent for the same name and attributes, so running this against
 * queues that still exist changes nothing. This brings back queues, not messages: the local
 * runtime restores the messages of a clean stop itself (infra/local/sqs-snapshot.ts).
 *
 * When the queue comes back under another URL (the embedded SQS could not listen on its old
 * port), the split's status, its registration (what splitters read) and the session's
 * output-queue map are moved to the new URL, each conditional on still being live.
 */
export async function restoreSplitQueues(ctx: SplitContext): Promise<RestoreSplitQueuesResult> {
  const log = loggerOf(ctx);
  const result: RestoreSplitQueuesResult = { restored: 0, moved: [], failed: [] };
  const active = (await ctx.store.listByKind(KINDS.sessionSplit))
    .map(asSessionSplit)
    .filter((s) => s.status === 'active');
  for (const split of active) {
    const id = `${split.sessionId}/${split.queue}`;
    let url: string;
    try {
      url = await createAgain(ctx, split);
    } catch (err) {
      result.failed.push(id);
      log.error('could not create a split output queue again', {
        sessionId: split.sessionId,
        queue: split.queue,
        error: (err as Error).message,
      });
      continue;
    }
    result.restored++;
    if (split.outputQueueUrl !== undefined && url !== split.outputQueueUrl) {
      await moveTo(ctx, split, url);
      result.moved.push(id);
    }
  }
  return result;
}

/** The same name and attributes as the registration used (register.ts), so CreateQueue is a no-op when it exists. */
async function createAgain(ctx: SplitContext, split: SessionSplit): Promise<string> {
  const out = await sqsIn(ctx, split.outputRegion).send(
    new CreateQueueCommand({
      QueueName: split.outputQueueName,
      Attributes: outputQueueAttributes(split.fifo),
    }),
  );
  if (!out.QueueUrl) throw new Error(`CreateQueue ${split.outputQueueName} returned no QueueUrl`);
  return out.QueueUrl;
}

/** Each write is skipped when its item ended meanwhile: an ended split keeps the URL it ended with. */
async function moveTo(ctx: SplitContext, split: SessionSplit, url: string): Promise<void> {
  const ignoreEnded = (err: unknown) => {
    if (!(err instanceof ConditionFailedError)) throw err;
  };
  await ctx.store
    .update(
      keys.queueSplit(split.queue, split.createdAt, split.sessionId),
      { outputQueueUrl: url },
      { conditions: [{ type: 'exists' }] },
    )
    .catch(ignoreEnded);
  await ctx.store
    .update(
      keys.sessionSplit(split.sessionId, split.queue),
      { outputQueueUrl: url },
      { conditions: [{ type: 'equals', attr: 'status', value: 'active' }] },
    )
    .catch(ignoreEnded);
  const session = await ctx.store.get(keys.session(split.sessionId));
  const map = session?.outputQueues as Record<string, string> | undefined;
  if (!session || !map || map[split.queue] === url) return;
  await ctx.store
    .update(
      keys.session(split.sessionId),
      { outputQueues: { ...map, [split.queue]: url } },
      {
        conditions: [
          { type: 'version', version: session.version },
          { type: 'in', attr: 'state', values: ['pending', 'ready'] },
        ],
      },
    )
    .catch(ignoreEnded);
}
