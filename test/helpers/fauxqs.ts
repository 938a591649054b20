import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandOutput,
  type SendMessageBatchRequestEntry,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { startFauxqs } from 'fauxqs';
import { parseSettings, type Settings } from '../../shared/config/settings.ts';
import { parseTopology, type Topology } from '../../shared/config/topology.ts';
import type { SplitContext } from '../../shared/split/context.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { type LocalDynamo, startDynalite } from './dynalite.ts';

/**
 * The embedded SQS (fauxqs, in-process) for tests and benchmarks, plus what it takes to drive the
 * splitter the way Lambda's SQS event source does: receive, build the event, call the handler,
 * delete what succeeded, leave the failures to come back.
 */
export interface LocalSqs {
  endpoint: string;
  /** A client for one region: fauxqs files queues under the region the request is signed for. */
  client(region?: string): SQSClient;
  stop(): Promise<void>;
}

export function localSqsClient(endpoint: string, region = 'us-east-1'): SQSClient {
  return new SQSClient({
    endpoint,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
}

export async function startSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const clients = new Map<string, SQSClient>();
  return {
    endpoint,
    client(region = 'us-east-1') {
      let c = clients.get(region);
      if (!c) {
        c = localSqsClient(endpoint, region);
        clients.set(region, c);
      }
      return c;
    },
    async stop() {
      for (const c of clients.values()) c.destroy();
      await server.stop();
    },
  };
}

export async function createQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string> = {},
): Promise<{ url: string; arn: string }> {
  const fifo = name.endsWith('.fifo');
  const out = await sqs.send(
    new CreateQueueCommand({
      QueueName: name,
      Attributes: {
        ...(fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' } : {}),
        ...attributes,
      },
    }),
  );
  const attrs = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: out.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  return { url: out.QueueUrl!, arn: attrs.Attributes!.QueueArn! };
}

/** A received message as Lambda's SQS event source hands it to a function. */
export function toLambdaRecord(m: Message, eventSourceARN: string): SQSRecord {
  const a = m.Attributes ?? {};
  const messageAttributes: SQSRecord['messageAttributes'] = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: v.DataType!,
      ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
    };
  }
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'LOCAL',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
      ...(a.MessageGroupId ? { MessageGroupId: a.MessageGroupId } : {}),
      ...(a.MessageDeduplicationId ? { MessageDeduplicationId: a.MessageDeduplicationId } : {}),
      ...(a.SequenceNumber ? { SequenceNumber: a.SequenceNumber } : {}),
      ...(a.AWSTraceHeader ? { AWSTraceHeader: a.AWSTraceHeader } : {}),
    },
    messageAttributes,
    md5OfBody: m.MD5OfBody ?? '',
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN,
    awsRegion: eventSourceARN.split(':')[3]!,
  };
}

export async function receive(
  sqs: SQSClient,
  url: string,
  max = 10,
  visibilityTimeout = 30,
): Promise<Message[]> {
  const out = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: url,
      MaxNumberOfMessages: max,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
      VisibilityTimeout: visibilityTimeout,
      WaitTimeSeconds: 0,
    }),
  );
  return out.Messages ?? [];
}

export async function deleteMessages(sqs: SQSClient, url: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((m, j) => ({ Id: `d${j}`, ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
  }
}

/** Receives and deletes everything in a queue, in arrival order (FIFO: one call per group message). */
export async function drainQueue(sqs: SQSClient, url: string): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const batch = await receive(sqs, url);
    if (batch.length === 0) return all;
    all.push(...batch);
    await deleteMessages(sqs, url, batch);
  }
}

export interface PumpOptions {
  /** Messages per Lambda invocation (several receives, like an event source mapping's batch size). */
  batchSize?: number;
  /** Safety stop. */
  maxRounds?: number;
}

export interface PumpStats {
  invocations: number;
  messages: number;
  failures: number;
}

/**
 * Drives a handler like Lambda's SQS event source until the source queue is empty: receive up to
 * `batchSize`, invoke, delete what did not fail. Failed messages are made visible again at once
 * (Lambda waits for the visibility timeout; the tests should not).
 */
export async function pump(
  sqs: SQSClient,
  source: { url: string; arn: string },
  handler: (event: SQSEvent) => Promise<SQSBatchResponse>,
  opts: PumpOptions = {},
): Promise<PumpStats> {
  const batchSize = opts.batchSize ?? 10;
  const stats: PumpStats = { invocations: 0, messages: 0, failures: 0 };
  for (let round = 0; round < (opts.maxRounds ?? 1000); round++) {
    const messages: Message[] = [];
    while (messages.length < batchSize) {
      const got = await receive(sqs, source.url, Math.min(10, batchSize - messages.length));
      if (got.length === 0) break;
      messages.push(...got);
    }
    if (messages.length === 0) return stats;
    const res = await handler({ Records: messages.map((m) => toLambdaRecord(m, source.arn)) });
    stats.invocations++;
    stats.messages += messages.length;
    const failed = new Set(res.batchItemFailures.map((f) => f.itemIdentifier));
    stats.failures += failed.size;
    await deleteMessages(
      sqs,
      source.url,
      messages.filter((m) => !failed.has(m.MessageId!)),
    );
    const retry = messages.filter((m) => failed.has(m.MessageId!));
    for (let i = 0; i < retry.length; i += 10) {
      await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: source.url,
          Entries: retry
            .slice(i, i + 10)
            .map((m, j) => ({ Id: `v${j}`, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      );
    }
  }
  throw new Error(`source ${source.url} not empty after ${opts.maxRounds ?? 1000} invocations`);
}

/**
 * Which SendMessageBatch entries to fail: `true` fails the entry, `'call'` throws for the whole call.
 * `call` numbers the SendMessageBatch calls through this client, from 1.
 */
export type FailureRule = (
  entry: SendMessageBatchRequestEntry,
  queueUrl: string,
  call: number,
) => boolean | 'call';

/**
 * Makes a real SDK client fail chosen SendMessageBatch entries (reported in `Failed`, as SQS does)
 * or whole calls, by a middleware in front of the request. Returns a switch to remove it.
 */
export function injectSendFailures(
  sqs: SQSClient,
  rule: FailureRule,
): { remove(): void; injected: number; calls: number } {
  const name = `inject-send-failures-${Math.random().toString(36).slice(2)}`;
  const state = { injected: 0, calls: 0, remove: () => sqs.middlewareStack.remove(name) };
  sqs.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName !== 'SendMessageBatchCommand') return next(args);
      const input = args.input as { QueueUrl: string; Entries: SendMessageBatchRequestEntry[] };
      const call = ++state.calls;
      const verdicts = input.Entries.map((e) => rule(e, input.QueueUrl, call));
      if (verdicts.includes('call')) {
        state.injected += input.Entries.length;
        throw Object.assign(new Error('injected: service unavailable'), {
          name: 'ServiceUnavailable',
          $fault: 'server',
        });
      }
      const failing = input.Entries.filter((_, i) => verdicts[i] === true);
      state.injected += failing.length;
      const Failed = failing.map((e) => ({
        Id: e.Id!,
        SenderFault: false,
        Code: 'InternalError',
        Message: 'injected failure',
      }));
      const keep = input.Entries.filter((_, i) => verdicts[i] !== true);
      if (keep.length === 0) {
        return { output: { Successful: [], Failed, $metadata: {} }, response: {} } as never;
      }
      const result = await next({ ...args, input: { ...input, Entries: keep } });
      const output = result.output as SendMessageBatchCommandOutput;
      return { ...result, output: { ...output, Failed: [...(output.Failed ?? []), ...Failed] } };
    },
    { step: 'initialize', name },
  );
  return state;
}

/** Counts SDK commands by name through a middleware (SQS or DynamoDB clients alike). */
export function countCommands(client: {
  middlewareStack: SQSClient['middlewareStack'];
}): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => (args) => {
      const n = context.commandName ?? 'unknown';
      counts[n] = (counts[n] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: `count-commands-${Math.random().toString(36).slice(2)}` },
  );
  return counts;
}

/**
 * A two-cluster world for the splitter's integration tests and benchmark: `east` (primary,
 * workload, default; us-east-1) and `west` (workload; us-west-2), each with its own source and
 * fallback queue for the logical queue `orders`, on the embedded SQS, with a dynalite table.
 */
export interface SplitWorld {
  sqs: LocalSqs;
  dynamo: LocalDynamo;
  store: DynamoDbStore;
  topology: Topology;
  settings: Settings;
  clusters: Record<'east' | 'west', { region: string; source: QueueRef; fallback: QueueRef }>;
  /** A context on this world; `now` defaults to the real clock. */
  ctx(over?: Partial<SplitContext>): SplitContext;
  stop(): Promise<void>;
}
export interface QueueRef {
  url: string;
  arn: string;
}

export async function startSplitWorld(
  opts: { fifo?: boolean; settings?: Partial<Settings> } = {},
): Promise<SplitWorld> {
  const sfx = opts.fifo ? '.fifo' : '';
  const [sqs, dynamo] = await Promise.all([startSqs(), startDynalite()]);
  await ensureTable(dynamo.client, 'switchyard');
  const store = new DynamoDbStore(dynamo.client, 'switchyard');
  const topology = parseTopology({
    clusters: [
      {
        id: 'east',
        roles: ['primary', 'workload', 'default'],
        region: 'us-east-1',
        queues: [{ name: 'orders', source: `east-orders${sfx}`, fallback: `east-orders-fallback${sfx}` }],
      },
      {
        id: 'west',
        roles: ['workload'],
        region: 'us-west-2',
        queues: [{ name: 'orders', source: `west-orders${sfx}`, fallback: `west-orders-fallback${sfx}` }],
      },
    ],
  });
  const settings = parseSettings(opts.settings ?? {});
  const cluster = async (id: 'east' | 'west', region: string) => ({
    region,
    source: await createQueue(sqs.client(region), `${id}-orders${sfx}`),
    fallback: await createQueue(sqs.client(region), `${id}-orders-fallback${sfx}`),
  });
  const clusters = { east: await cluster('east', 'us-east-1'), west: await cluster('west', 'us-west-2') };
  return {
    sqs,
    dynamo,
    store,
    topology,
    settings,
    clusters,
    ctx: (over = {}) => ({
      store,
      sqs: sqs.client('us-east-1'),
      sqsFor: (region: string) => sqs.client(region),
      topology,
      settings,
      now: Date.now,
      ...over,
    }),
    async stop() {
      await Promise.all([sqs.stop(), dynamo.stop()]);
    },
  };
}

/** Sends messages (in order, 10 per call) and returns their SQS message ids. */
export async function sendMessages(
  sqs: SQSClient,
  url: string,
  messages: {
    body: string;
    attributes?: Record<string, MessageAttributeValue>;
    groupId?: string;
  }[],
): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: chunk.map((m, j) => ({
          Id: `e${j}`,
          MessageBody: m.body,
          ...(m.attributes ? { MessageAttributes: m.attributes } : {}),
          ...(m.groupId ? { MessageGroupId: m.groupId, MessageDeduplicationId: `${m.body}-${i + j}` } : {}),
        })),
      }),
    );
    if (out.Failed?.length) throw new Error(`send failed: ${JSON.stringify(out.Failed)}`);
    const byId = new Map((out.Successful ?? []).map((s) => [s.Id, s.MessageId!]));
    chunk.forEach((_, j) => {
      ids.push(byId.get(`e${j}`)!);
    });
  }
  return ids;
}
