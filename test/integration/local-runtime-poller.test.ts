import { createHash } from 'node:crypto';
import {
  GetQueueAttributesCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LocalQueue } from '../../infra/local/sqs.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

/** What the injected splitter does with a record, chosen by the test through its body. */
type Behaviour = (record: SQSRecord) => 'ok' | 'fail' | 'throw' | 'bogus';

describe('local SQS event source for the splitter', () => {
  let rt: TestRuntime;
  const events: SQSEvent[] = [];
  let behaviour: Behaviour = () => 'ok';
  const clients = new Map<string, SQSClient>();

  const queue = (name: string): LocalQueue => rt.queues.find((q) => q.queueName === name)!;
  const sqs = (q: LocalQueue): SQSClient => {
    let c = clients.get(q.region);
    if (!c) {
      c = new SQSClient({ region: q.region, endpoint: rt.sqsEndpoint, credentials });
      clients.set(q.region, c);
    }
    return c;
  };
  const records = (q: LocalQueue): SQSRecord[] =>
    events.flatMap((e) => e.Records).filter((r) => r.eventSourceARN === q.arn);
  const recordsWithBody = (q: LocalQueue, body: string): SQSRecord[] =>
    records(q).filter((r) => r.body === body);
  /** Messages still in the queue, visible or in flight. */
  const remaining = async (q: LocalQueue): Promise<number> => {
    const out = await sqs(q).send(
      new GetQueueAttributesCommand({
        QueueUrl: q.url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(out.Attributes?.ApproximateNumberOfMessages) +
      Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
    );
  };

  beforeAll(async () => {
    rt = await startTestRuntime({
      handlers: {
        splitter: async (event: SQSEvent): Promise<SQSBatchResponse | undefined> => {
          events.push(event);
          const outcomes = event.Records.map((r) => [r, behaviour(r)] as const);
          if (outcomes.some(([, o]) => o === 'throw')) throw new Error('splitter crashed');
          if (outcomes.some(([, o]) => o === 'bogus')) {
            return { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] };
          }
          const failures = outcomes
            .filter(([, o]) => o === 'fail')
            .map(([r]) => ({ itemIdentifier: r.messageId }));
          // No response at all counts as "everything succeeded", as on Lambda.
          return failures.length ? { batchItemFailures: failures } : undefined;
        },
      },
    });
    // Short visibility timeouts, so failed records come back within the test.
    for (const name of ['east-orders', 'west-payments.fifo']) {
      const q = queue(name);
      await sqs(q).send(
        new SetQueueAttributesCommand({ QueueUrl: q.url, Attributes: { VisibilityTimeout: '1' } }),
      );
    }
  });
  beforeEach(() => {
    behaviour = () => 'ok';
  });
  afterAll(async () => {
    for (const c of clients.values()) c.destroy();
    await rt?.stop();
  });

  it('invokes the splitter with a Lambda-shaped SQS event and deletes what it processed', async () => {
    const q = queue('east-orders');
    const body = JSON.stringify({ order: 1 });
    await sqs(q).send(
      new SendMessageCommand({
        QueueUrl: q.url,
        MessageBody: body,
        MessageAttributes: {
          tenant: { DataType: 'String', StringValue: 'acme' },
          count: { DataType: 'Number', StringValue: '3' },
          blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
        },
      }),
    );
    const record = await eventually(() => recordsWithBody(q, body)[0], 10_000, 'the record');
    expect(record).toEqual({
      messageId: expect.any(String),
      receiptHandle: expect.any(String),
      body,
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: expect.stringMatching(/^\d{13}$/),
        SenderId: expect.any(String),
        ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
      },
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
        count: { stringValue: '3', stringListValues: [], binaryListValues: [], dataType: 'Number' },
        blob: {
          binaryValue: Buffer.from('bytes').toString('base64'),
          stringListValues: [],
          binaryListValues: [],
          dataType: 'Binary',
        },
      },
      md5OfBody: createHash('md5').update(body).digest('hex'),
      md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:east-orders',
      awsRegion: 'us-east-1',
    });
    await eventually(async () => (await remaining(q)) === 0, 10_000, 'the message to be deleted');
  });

  it('batches up to ten records per invocation', async () => {
    const q = queue('east-orders');
    const before = events.length;
    const bodies = Array.from({ length: 10 }, (_, i) => `batch-${i}`);
    await sqs(q).send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: bodies.map((b, i) => ({ Id: String(i), MessageBody: b })),
      }),
    );
    await eventually(() => bodies.every((b) => recordsWithBody(q, b).length > 0), 10_000, 'every record');
    const sizes = events.slice(before).map((e) => e.Records.length);
    expect(Math.max(...sizes)).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(10);
  });

  it('deletes the successes and redelivers the batchItemFailures after the visibility timeout', async () => {
    const q = queue('east-orders');
    behaviour = (r) =>
      r.body === 'partial-fail' && r.attributes.ApproximateReceiveCount === '1' ? 'fail' : 'ok';
    await sqs(q).send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: [
          { Id: 'a', MessageBody: 'partial-ok' },
          { Id: 'b', MessageBody: 'partial-fail' },
        ],
      }),
    );
    const again = await eventually(() => recordsWithBody(q, 'partial-fail')[1], 10_000, 'the redelivery');
    expect(again.attributes.ApproximateReceiveCount).toBe('2');
    await eventually(async () => (await remaining(q)) === 0, 10_000, 'the queue to empty');
    expect(recordsWithBody(q, 'partial-ok')).toHaveLength(1);
    expect(recordsWithBody(q, 'partial-fail')).toHaveLength(2);
  });

  it.each([
    { outcome: 'throw' as const, what: 'the splitter throws' },
    { outcome: 'bogus' as const, what: 'a failure names no record of the batch' },
  ])('deletes nothing when $what: the whole batch comes back', async ({ outcome }) => {
    const q = queue('east-orders');
    const body = `whole-${outcome}`;
    behaviour = (r) => (r.body === body && r.attributes.ApproximateReceiveCount === '1' ? outcome : 'ok');
    await sqs(q).send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: body }));
    const again = await eventually(() => recordsWithBody(q, body)[1], 10_000, 'the redelivery');
    expect(again.attributes.ApproximateReceiveCount).toBe('2');
    await eventually(async () => (await remaining(q)) === 0, 10_000, 'the queue to empty');
  });

  it('carries the FIFO attributes and the queue region for a FIFO source queue', async () => {
    const q = queue('west-payments.fifo');
    await sqs(q).send(
      new SendMessageCommand({
        QueueUrl: q.url,
        MessageBody: 'fifo-1',
        MessageGroupId: 'group-a',
        MessageDeduplicationId: 'dedup-1',
      }),
    );
    const record = await eventually(() => recordsWithBody(q, 'fifo-1')[0], 10_000, 'the record');
    expect(record).toMatchObject({
      attributes: {
        MessageGroupId: 'group-a',
        MessageDeduplicationId: 'dedup-1',
        SequenceNumber: expect.stringMatching(/^\d+$/),
      },
      eventSourceARN: 'arn:aws:sqs:us-west-2:000000000000:west-payments.fifo',
      awsRegion: 'us-west-2',
    });
    await eventually(async () => (await remaining(q)) === 0, 10_000, 'the message to be deleted');
  });

  it('does not poll fallback queues', async () => {
    const q = queue('east-orders-fallback');
    await sqs(q).send(new SendMessageCommand({ QueueUrl: q.url, MessageBody: 'stays' }));
    await new Promise((r) => setTimeout(r, 1500));
    expect(records(q)).toEqual([]);
    expect(await remaining(q)).toBe(1);
  });
});

describe('local SQS event source: batch window', () => {
  it('gathers records for the batch window before invoking', async () => {
    const sizes: number[] = [];
    const rt = await startTestRuntime({
      poller: { batchSize: 25, batchWindowMs: 1500 },
      handlers: {
        splitter: async (event: SQSEvent) => {
          sizes.push(event.Records.length);
        },
      },
    });
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: rt.sqsEndpoint, credentials });
    try {
      const q = rt.queues.find((x) => x.queueName === 'east-orders')!;
      for (let batch = 0; batch < 3; batch++) {
        await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: q.url,
            Entries: Array.from({ length: 8 }, (_, i) => ({ Id: String(i), MessageBody: `w-${batch}-${i}` })),
          }),
        );
      }
      await eventually(() => sizes.reduce((a, b) => a + b, 0) === 24, 10_000, 'all 24 records');
      // Above the ten records one ReceiveMessage returns: the window gathered several receives.
      expect(Math.max(...sizes)).toBeGreaterThan(10);
    } finally {
      sqs.destroy();
      await rt.stop();
    }
  });
});
