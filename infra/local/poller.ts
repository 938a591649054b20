import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { SplitterHandler } from './handlers.ts';
import { lambdaContext } from './lambda-context.ts';
import type { LocalLog } from './log.ts';
import type { LocalQueue } from './sqs.ts';
import { sqsEvent } from './sqs-event.ts';

/** How the event source batches, as on a Lambda SQS event source mapping. */
export interface PollerSettings {
  /** Records per invocation (Lambda: 1 to 10,000; FIFO queues: at most 10). Default 10. */
  batchSize: number;
  /** How long to gather records before invoking with a partial batch (Lambda: MaximumBatchingWindowInSeconds). Default 0. */
  batchWindowMs: number;
  /** ReceiveMessage long-poll wait. Short, so that stop() is prompt and redeliveries show up soon. Default 1. */
  waitTimeSeconds: number;
}

export const DEFAULT_POLLER_SETTINGS: PollerSettings = {
  batchSize: 10,
  batchWindowMs: 0,
  waitTimeSeconds: 1,
};

export interface Poller {
  stop(): Promise<void>;
}

const HANDLER_TIMEOUT_MS = 30_000;
const RETRY_AFTER_ERROR_MS = 1_000;

/**
 * Which records to delete after an invocation, by Lambda's rules for ReportBatchItemFailures:
 * no response or no failures -> all succeeded; failures listed -> delete the others; a failure
 * that names no record of the batch makes the whole batch fail (nothing is deleted).
 */
export function recordsToDelete(event: SQSEvent, response: unknown): Message[] | 'invalid' {
  const ids = new Set(event.Records.map((r) => r.messageId));
  const listed = (response as Partial<SQSBatchResponse> | null | undefined)?.batchItemFailures;
  const failures: unknown[] = Array.isArray(listed) ? listed : [];
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !ids.has(id)) return 'invalid';
    failed.add(id);
  }
  return event.Records.filter((r) => !failed.has(r.messageId)).map((r) => ({
    MessageId: r.messageId,
    ReceiptHandle: r.receiptHandle,
  }));
}

/** One poller per source queue: receive, invoke the splitter, delete what succeeded. */
export function startPoller(opts: {
  queue: LocalQueue;
  client: SQSClient;
  handler: SplitterHandler;
  settings: PollerSettings;
  log: LocalLog;
}): Poller {
  const { queue, client, settings, log } = opts;
  const batchSize = queue.queueName.endsWith('.fifo') ? Math.min(settings.batchSize, 10) : settings.batchSize;
  const abort = new AbortController();
  let stopped = false;

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      abort.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      });
    });

  const receive = async (max: number, waitSeconds: number): Promise<Message[]> => {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: Math.min(10, max),
        WaitTimeSeconds: waitSeconds,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
      { abortSignal: abort.signal },
    );
    return out.Messages ?? [];
  };

  /** The first receive long-polls; after a message arrives, gather more until the batch or the window is full. */
  const collect = async (): Promise<Message[]> => {
    const batch = await receive(batchSize, settings.waitTimeSeconds);
    if (batch.length === 0) return batch;
    const deadline = Date.now() + settings.batchWindowMs;
    while (!stopped && batch.length < batchSize && Date.now() < deadline) {
      const more = await receive(batchSize - batch.length, 0);
      batch.push(...more);
      if (more.length === 0) await sleep(Math.min(50, deadline - Date.now()));
    }
    return batch;
  };

  const deleteRecords = async (records: Message[]): Promise<void> => {
    for (let i = 0; i < records.length; i += 10) {
      const chunk = records.slice(i, i + 10);
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queue.url,
          Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      for (const f of out.Failed ?? []) {
        log.warn(`could not delete a message from ${queue.queueName} (${f.Code}: ${f.Message})`);
      }
    }
  };

  const deliver = async (messages: Message[]): Promise<void> => {
    const event = sqsEvent(messages, queue);
    let response: unknown;
    try {
      response = await opts.handler(event, lambdaContext('splitter', queue.region, HANDLER_TIMEOUT_MS));
    } catch (err) {
      // As on Lambda: a failed invocation deletes nothing; the batch comes back after the visibility timeout.
      log.error(`splitter failed on a batch of ${messages.length} from ${queue.queueName}`, err);
      return;
    }
    const toDelete = recordsToDelete(event, response);
    if (toDelete === 'invalid') {
      log.error(
        `splitter returned a batchItemFailures entry that names no record of the batch from ${queue.queueName}: the whole batch will be retried`,
      );
      return;
    }
    await deleteRecords(toDelete);
  };

  const loop = (async () => {
    while (!stopped) {
      try {
        const messages = await collect();
        if (messages.length > 0) await deliver(messages);
      } catch (err) {
        if (stopped) break;
        log.warn(`polling ${queue.queueName} failed; retrying`, err);
        await sleep(RETRY_AFTER_ERROR_MS);
      }
    }
  })();

  return {
    async stop() {
      stopped = true;
      abort.abort();
      await loop;
    },
  };
}
