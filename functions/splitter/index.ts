import { Logger } from '@aws-lambda-powertools/logger';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createSplitter, type Splitter } from '../../shared/split/splitter.ts';
import { deps, onResetDeps } from '../lib/deps.ts';
import { queueArnsFromEnv } from '../lib/queue-arns.ts';

const logger = new Logger({ serviceName: 'switchyard-splitter' });

/**
 * One per process: it caches the active splits (`splitCacheMs`) and the fallback queue URLs.
 * Cross-region sends (a workload cluster's splitter to the output queue in the default cluster's
 * region) use the per-region clients of `deps().sqsFor`.
 */
let splitter: Splitter | undefined;
onResetDeps(() => {
  splitter = undefined;
});

/**
 * Triggered by a cluster's source queue (event source mapping with ReportBatchItemFailures).
 * Routes each message to a session's output queue and/or the cluster's fallback queue.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  splitter ??= createSplitter({ ...deps(), queueArns: queueArnsFromEnv(), logger });
  return splitter.handle(event.Records);
}
