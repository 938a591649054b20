import { CreateQueueCommand } from '@aws-sdk/client-sqs';
import { clusterRegion, defaultCluster } from '../config/topology.ts';
import { ConditionFailedError, ValidationError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import { type SplitContext, sqsIn } from './context.ts';
import { InvalidSplitFilterError, SplitConflictError } from './errors.ts';
import {
  asSessionSplit,
  DEFAULT_STAGE,
  outputQueueAttributes,
  outputQueueName,
  type QueueSplit,
  type SessionSplit,
} from './model.ts';
import { type SplitRequest, SplitsRequestSchema } from './schema.ts';
import { splitQueue } from './topology-queues.ts';

export interface RegisterSplitsInput {
  sessionId: string;
  /** The session's creation time (epoch ms): orders overlapping splits, earliest wins. */
  createdAt: number;
  /** Who created the session (recorded on the split status). */
  owner: string;
  /** Validated here with `SplitsRequestSchema`, so a stored session's `unknown[]` can be passed as is. */
  splits: unknown;
}

/** Logical queue name -> the session's output queue URL, passed to every workload cluster's child. */
export type OutputQueueMap = Record<string, string>;

interface Plan {
  split: SplitRequest;
  fifo: boolean;
  name: string;
}

const sameFilter = (a: Record<string, string>, b: Record<string, string>): boolean =>
  JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());

/** Validates splits from a request (or a stored session, where they are `unknown`). */
function validate(splits: unknown): SplitRequest[] {
  const parsed = SplitsRequestSchema.safeParse(splits);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues;
  // A bad regex keeps its own error class and the compiler's words, whatever else is wrong.
  const filter = issues.find(
    (i) => (i as { params?: { code?: string } }).params?.code === 'invalid_split_filter',
  );
  if (filter) throw new InvalidSplitFilterError(filter.message, { path: filter.path });
  const first = issues[0]!;
  throw new ValidationError(`splits.${first.path.join('.')}: ${first.message}`, {
    issues: issues.map((i) => ({ path: i.path, message: i.message })),
  });
}

/**
 * Step 1: record the split as `registering` before any queue exists, so a cleanup that runs after
 * a crash knows there may be a queue to delete. A retried registration (same mode, filter and
 * creation time, not ended) carries on; anything else on that key is a conflict, never overwritten.
 */
async function writeRegistering(
  ctx: SplitContext,
  input: RegisterSplitsInput,
  plan: Plan,
  region: string,
): Promise<void> {
  const { sessionId, createdAt, owner } = input;
  const { split } = plan;
  const key = keys.sessionSplit(sessionId, split.queue);
  const status: Omit<SessionSplit, 'outputQueueUrl'> = {
    sessionId,
    queue: split.queue,
    mode: split.mode,
    filter: split.filter,
    owner,
    createdAt,
    status: 'registering',
    fifo: plan.fifo,
    outputQueueName: plan.name,
    outputRegion: region,
  };
  try {
    await ctx.store.put(
      { ...key, kind: KINDS.sessionSplit, ...status },
      { conditions: [{ type: 'absent' }] },
    );
    return;
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
  }
  const existing = await ctx.store.get(key);
  const e = existing && asSessionSplit(existing);
  if (
    e &&
    (e.status === 'registering' || e.status === 'active') &&
    e.mode === split.mode &&
    e.createdAt === createdAt &&
    sameFilter(e.filter, split.filter)
  ) {
    return;
  }
  throw new SplitConflictError(
    sessionId,
    split.queue,
    e && (e.status === 'draining' || e.status === 'retired')
      ? `session '${sessionId}' already ended its split of '${split.queue}': create a new session`
      : `session '${sessionId}' already splits '${split.queue}' with another mode or filter`,
  );
}

/**
 * CreateQueue is idempotent for the same name and attributes, so a retry gets the same URL. The
 * queue is encrypted with an SQS-managed key (model.ts `outputQueueAttributes`).
 */
async function createOutputQueue(ctx: SplitContext, plan: Plan, region: string): Promise<string> {
  const out = await sqsIn(ctx, region).send(
    new CreateQueueCommand({ QueueName: plan.name, Attributes: outputQueueAttributes(plan.fifo) }),
  );
  if (!out.QueueUrl) throw new Error(`CreateQueue ${plan.name} returned no QueueUrl`);
  return out.QueueUrl;
}

/**
 * Steps 2 and 3: create the output queue, publish the registration splitters read, mark active.
 * The registration is written before the status turns active, and the status update is
 * conditional on the split not having ended meanwhile: if a concurrent end won, the registration
 * it could not see is removed again here (and by the retire duty, should this process die first).
 */
async function activate(ctx: SplitContext, input: RegisterSplitsInput, plan: Plan, region: string) {
  const url = await createOutputQueue(ctx, plan, region);
  const { sessionId, createdAt } = input;
  const { split } = plan;
  const registration: QueueSplit = {
    sessionId,
    queue: split.queue,
    mode: split.mode,
    filter: split.filter,
    createdAt,
    fifo: plan.fifo,
    outputQueueUrl: url,
  };
  const regKey = keys.queueSplit(split.queue, createdAt, sessionId);
  await ctx.store.put({ ...regKey, kind: KINDS.queueSplit, ...registration });
  try {
    await ctx.store.update(
      keys.sessionSplit(sessionId, split.queue),
      { status: 'active', outputQueueUrl: url },
      { conditions: [{ type: 'in', attr: 'status', values: ['registering', 'active'] }] },
    );
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
    await ctx.store.delete(regKey);
    throw new SplitConflictError(
      sessionId,
      split.queue,
      `session '${sessionId}' ended while its split of '${split.queue}' was being registered`,
    );
  }
  return url;
}

/**
 * Registers a session's splits and returns the output-queue map. Output queues are named after
 * the context's stage (`switchyard-<stage>_<session>-<queue>`, model.ts). Any failure leaves a state that
 * `endSessionSplits` (then the retire duty) can finish: statuses first, queues second,
 * registrations last.
 */
export async function registerSessionSplits(
  ctx: SplitContext,
  input: RegisterSplitsInput,
): Promise<OutputQueueMap> {
  const splits = validate(input.splits);
  if (splits.length === 0) return {};
  const region = clusterRegion(ctx.topology, defaultCluster(ctx.topology));
  const stage = ctx.stage ?? DEFAULT_STAGE;
  const plans: Plan[] = splits.map((split) => {
    const q = splitQueue(ctx.topology, split.queue);
    return { split, fifo: q.fifo, name: outputQueueName(stage, input.sessionId, split.queue, q.fifo) };
  });
  await settled(plans.map((p) => writeRegistering(ctx, input, p, region)));
  const urls = await settled(plans.map((p) => activate(ctx, input, p, region)));
  return Object.fromEntries(plans.map((p, i) => [p.split.queue, urls[i]!]));
}

/** Like Promise.all, but returns (or throws the first error) only once every step has finished, so
 * a caller that cleans up after a failure never races a step still running. */
async function settled<T>(steps: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(steps);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw (failed as PromiseRejectedResult).reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}
