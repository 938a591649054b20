import { SwitchyardError } from '../errors/errors.ts';

/**
 * Errors of queue splitting. Each failure mode has its own class and stable `code`, so the API
 * layer maps them once and callers branch on `code`, never on the text.
 */

/** A split filter that cannot be accepted: empty, too large, invalid or catastrophic regex. */
export class InvalidSplitFilterError extends SwitchyardError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_split_filter', message, 400, details);
  }
}

/** A split names a logical queue that no cluster of the topology declares. */
export class UnknownSplitQueueError extends SwitchyardError {
  constructor(queue: string, known: string[]) {
    super(
      'unknown_split_queue',
      known.length
        ? `no cluster declares a queue named '${queue}': split one of ${known.map((q) => `'${q}'`).join(', ')}`
        : `no cluster declares a queue named '${queue}': add it to a cluster's "queues" in the topology`,
      400,
      { queue, known },
    );
  }
}

/**
 * The topology declares a logical queue in a way splitting cannot serve (FIFO in one cluster,
 * standard in another): one output queue cannot be both.
 */
export class SplitQueueConfigError extends SwitchyardError {
  constructor(queue: string, message: string) {
    super('split_queue_config', `queue '${queue}': ${message}`, 400, { queue });
  }
}

/** The session already has a different split on that queue, or its splits were ended. */
export class SplitConflictError extends SwitchyardError {
  constructor(sessionId: string, queue: string, message: string) {
    super('split_conflict', message, 409, { sessionId, queue });
  }
}

/** The splitter was triggered by a queue the topology does not list as any cluster's source. */
export class UnknownSplitSourceError extends SwitchyardError {
  constructor(arn: string, message: string) {
    super('unknown_split_source', message, 500, { eventSourceARN: arn });
  }
}
