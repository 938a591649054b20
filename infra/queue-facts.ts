import type { QueueConfig, Topology } from '../shared/config/topology.ts';
import type { DeployContext } from './deploy-context.ts';

/**
 * Facts about a user-owned source queue that a synth cannot look up (the queue is imported by
 * name or ARN, and synth runs offline): its visibility timeout, which must be at least 6x the
 * splitter's timeout, its dead-letter queue, which gets a depth alarm, the customer-managed KMS
 * keys of the source queue and of a fallback the user owns, which the functions' roles must be
 * allowed to use, and the ARNs of those two queues when they live in another account.
 *
 * They come from the topology's queue entry (`visibilityTimeoutSecs`, `deadLetterQueue`), else
 * from CDK context (`queueVisibilityTimeouts`, `deadLetterQueues`, keyed by the source queue name),
 * and from context `queueKmsKeys` and `queueArns` (keyed by the queue's own name, source or fallback).
 */
export interface QueueFacts {
  /** ARN of the source queue (context `queueArns`); unset: the queue is in the stack's account. */
  arn?: string;
  /** ARN of a fallback the user owns (context `queueArns`); unset: it is in the stack's account. */
  fallbackArn?: string;
  visibilityTimeoutSecs?: number;
  deadLetterQueue?: string;
  /** ARN of the source queue's KMS key (or of an alias of it), when the queue uses SSE-KMS. */
  kmsKey?: string;
  /** ARN of the fallback queue's KMS key, for an SSE-KMS fallback the user owns. */
  fallbackKmsKey?: string;
}

export function queueFacts(queue: QueueConfig, ctx: DeployContext): QueueFacts {
  const visibilityTimeoutSecs = queue.visibilityTimeoutSecs ?? ctx.queueVisibilityTimeouts[queue.source];
  const deadLetterQueue = queue.deadLetterQueue ?? ctx.deadLetterQueues[queue.source];
  const kmsKey = ctx.queueKmsKeys[queue.source];
  const fallbackKmsKey = ctx.queueKmsKeys[queue.fallback];
  const arn = ctx.queueArns[queue.source];
  const fallbackArn = ctx.queueArns[queue.fallback];
  return {
    ...(arn !== undefined ? { arn } : {}),
    ...(fallbackArn !== undefined ? { fallbackArn } : {}),
    ...(visibilityTimeoutSecs !== undefined ? { visibilityTimeoutSecs } : {}),
    ...(deadLetterQueue !== undefined ? { deadLetterQueue } : {}),
    ...(kmsKey !== undefined ? { kmsKey } : {}),
    ...(fallbackKmsKey !== undefined ? { fallbackKmsKey } : {}),
  };
}

/** The KMS keys of every fallback queue that has one (the reconciler sends to all of them). */
export function fallbackKmsKeys(topology: Topology, ctx: DeployContext): string[] {
  return topology.clusters.flatMap((c) =>
    c.queues.flatMap((q) => {
      const key = ctx.queueKmsKeys[q.fallback];
      return key === undefined ? [] : [key];
    }),
  );
}

/** A KMS key ARN or alias ARN, taken apart. */
export interface KmsKeyRef {
  arn: string;
  partition: string;
  region: string;
  account: string;
  /** `key/<id>` or `alias/<name>`. */
  resource: string;
  isAlias: boolean;
}

const KMS_ARN = /^arn:(aws[a-z-]*):kms:([a-z0-9-]+):(\d{12}):((key|alias)\/.+)$/;

/** Takes a KMS ARN apart (context "queueKmsKeys" has already checked its shape). */
export function parseKmsKeyArn(arn: string): KmsKeyRef {
  const m = KMS_ARN.exec(arn);
  if (!m) throw new Error(`'${arn}' is not a KMS key or alias ARN`);
  return { arn, partition: m[1]!, region: m[2]!, account: m[3]!, resource: m[4]!, isAlias: m[5] === 'alias' };
}

/** An SQS queue ARN, taken apart. */
export interface QueueArnRef {
  arn: string;
  partition: string;
  region: string;
  account: string;
  name: string;
}

const QUEUE_ARN = /^arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]+)$/;

/** Takes a queue ARN apart (context "queueArns" has already checked its shape). */
export function parseQueueArn(arn: string): QueueArnRef {
  const m = QUEUE_ARN.exec(arn);
  if (!m) throw new Error(`'${arn}' is not an SQS queue ARN`);
  return { arn, partition: m[1]!, region: m[2]!, account: m[3]!, name: m[4]! };
}
