import type { QueueConfig } from '../shared/config/topology.ts';
import type { DeployContext } from './deploy-context.ts';

/**
 * Facts about a user-owned source queue that a synth cannot look up (the queue is imported by
 * name, and synth runs offline): its visibility timeout, which must be at least 6x the splitter's
 * timeout, and its dead-letter queue, which gets a depth alarm.
 *
 * They come from the topology's queue entry (`visibilityTimeoutSecs`, `deadLetterQueue`), else
 * from CDK context (`queueVisibilityTimeouts`, `deadLetterQueues`, keyed by the source queue name).
 */
export interface QueueFacts {
  visibilityTimeoutSecs?: number;
  deadLetterQueue?: string;
}

export function queueFacts(queue: QueueConfig, ctx: DeployContext): QueueFacts {
  const visibilityTimeoutSecs = queue.visibilityTimeoutSecs ?? ctx.queueVisibilityTimeouts[queue.source];
  const deadLetterQueue = queue.deadLetterQueue ?? ctx.deadLetterQueues[queue.source];
  return {
    ...(visibilityTimeoutSecs !== undefined ? { visibilityTimeoutSecs } : {}),
    ...(deadLetterQueue !== undefined ? { deadLetterQueue } : {}),
  };
}
