import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createSplitter, type Splitter } from '../../shared/split/splitter.ts';
import { deps, onResetDeps } from '../lib/deps.ts';
import { ENV } from '../lib/env.ts';

const logger = new Logger({ serviceName: 'switchyard-splitter' });

/** One per process: it caches the active splits (`splitCacheMs`) and the fallback queue URLs. */
let splitter: Splitter | undefined;
/**
 * A splitter in a workload cluster's region sends to the output queue in the default cluster's
 * region; a request is signed for one region, so that needs a client of that region.
 */
const clients = new Map<string, SQSClient>();
onResetDeps(() => {
  splitter = undefined;
  clients.clear();
});

function sqsFor(region: string): SQSClient {
  let client = clients.get(region);
  if (!client) {
    const endpoint = process.env[ENV.sqsEndpoint];
    client = new SQSClient({ region, ...(endpoint ? { endpoint } : {}) });
    clients.set(region, client);
  }
  return client;
}

/**
 * Triggered by a cluster's source queue (event source mapping with ReportBatchItemFailures).
 * Routes each message to a session's output queue and/or the cluster's fallback queue.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  splitter ??= createSplitter({ ...deps(), sqsFor, logger });
  return splitter.handle(event.Records);
}
