import { createHash } from 'node:crypto';
import type { StoredItem } from '../store/store.ts';
import type { SplitFilter } from './filter.ts';
import type { SplitMode } from './schema.ts';

/**
 * The two items a split keeps in the table (keys in shared/store/keys.ts):
 *
 * - the session's split status `SESSION#<id> / SPLIT#<queue>`: the source of truth for cleanup.
 *   registering -> active -> draining -> retired. It is written `registering` before any queue
 *   exists, so a cleanup always knows what it may have to delete.
 * - the registration `SPLIT#<queue> / <createdAt>#<sessionId>`: what splitters read. One query
 *   of the queue's partition returns every active split sorted by creation, so the earliest
 *   session wins an overlap without any extra ordering work.
 */
export const SPLIT_STATUSES = ['registering', 'active', 'draining', 'retired'] as const;
export type SplitStatus = (typeof SPLIT_STATUSES)[number];

export interface SessionSplit {
  sessionId: string;
  queue: string;
  mode: SplitMode;
  filter: SplitFilter;
  owner: string;
  createdAt: number;
  status: SplitStatus;
  fifo: boolean;
  /** Deterministic, so a cleanup finds the queue even when the URL was never recorded. */
  outputQueueName: string;
  outputRegion: string;
  outputQueueUrl?: string;
  endedAt?: number;
  drainDeadline?: number;
  retiredAt?: number;
  /** Messages this session received (counted per batch, at least once). */
  matched?: number;
  /** Messages that matched this session's filter but went to an earlier session. */
  lost?: number;
  /** At retirement: stolen messages moved back to their cluster's fallback queue. */
  returned?: number;
  /** At retirement: mirrored copies dropped (their original already went to the fallback). */
  discarded?: number;
  /** At retirement: messages still held by a consumer past every deadline (logged, not movable). */
  abandoned?: number;
}

export interface QueueSplit {
  sessionId: string;
  queue: string;
  mode: SplitMode;
  filter: SplitFilter;
  createdAt: number;
  fifo: boolean;
  outputQueueUrl: string;
}

export const asSessionSplit = (item: StoredItem): SessionSplit => item as unknown as SessionSplit;
export const asQueueSplit = (item: StoredItem): QueueSplit => item as unknown as QueueSplit;

/** SQS queue names: at most 80 characters of letters, digits, `-` and `_`, plus `.fifo` for FIFO. */
const MAX_QUEUE_NAME = 80;
export const OUTPUT_QUEUE_PREFIX = 'switchyard-';

/**
 * The stage whose output queues a router creates when nothing names one (`SWITCHYARD_STAGE` unset):
 * the local runtime's. A deployed stack always sets its own stage.
 */
export const DEFAULT_STAGE = 'local';
/** A deployment stage (CDK context `stage`): it never holds `_`, which ends it in a queue name. */
export const STAGE_PATTERN = /^[a-z][a-z0-9-]{0,19}$/;

/**
 * `switchyard-<stage>_`: every output queue of one stage starts with it, and no queue of another
 * stage does (a stage holds no `_`, so `switchyard-dev_` is never the start of `switchyard-dev-2_`).
 * The router's IAM scope is this prefix.
 */
export function outputQueuePrefix(stage: string): string {
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(
      `stage '${stage}' is not a valid stage: use lowercase letters, digits and "-", starting with a letter, at most 20 characters`,
    );
  }
  return `${OUTPUT_QUEUE_PREFIX}${stage}_`;
}

/**
 * `switchyard-<stage>_<sessionId>-<queue>[.fifo]`. Deterministic (CreateQueue is idempotent on the
 * name, so a retried registration finds the same queue); characters SQS refuses become `-`; names
 * that would pass 80 characters are shortened and keep a hash of the full pair so they stay unique.
 * The stage prefix is never shortened.
 */
export function outputQueueName(stage: string, sessionId: string, queue: string, fifo: boolean): string {
  const prefix = outputQueuePrefix(stage);
  const clean = (s: string) => s.replace(/\.fifo$/, '').replace(/[^A-Za-z0-9_-]/g, '-');
  const suffix = fifo ? '.fifo' : '';
  const full = `${prefix}${clean(sessionId)}-${clean(queue)}`;
  if (full.length + suffix.length <= MAX_QUEUE_NAME) return full + suffix;
  const hash = createHash('sha256').update(`${sessionId}\u0000${queue}`).digest('hex').slice(0, 12);
  const room = MAX_QUEUE_NAME - suffix.length - prefix.length - hash.length - 2;
  const half = Math.floor(room / 2);
  return `${prefix}${clean(sessionId).slice(0, room - half)}-${clean(queue).slice(0, half)}-${hash}${suffix}`;
}

/**
 * The attributes every output queue is created with, by registration and by a restore alike
 * (CreateQueue answers the existing queue only when the attributes are equal). SQS-managed
 * encryption (SSE-SQS): no KMS key, so no role needs a KMS grant for output queues. FIFO
 * deduplication uses the original message id (set by the splitter), not the body: two different
 * messages with equal bodies must both arrive.
 */
export function outputQueueAttributes(fifo: boolean): Record<string, string> {
  return {
    SqsManagedSseEnabled: 'true',
    ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' } : {}),
  };
}
