import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import type { LocalLog } from '../../infra/local/log.ts';
import { SQS_SNAPSHOT_FILE, SqsSnapshotError } from '../../infra/local/sqs-snapshot.ts';
import { startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
/** TEST_TOPOLOGY: a standard queue pair in us-east-1, a FIFO pair in us-west-2. */
const EAST = 'us-east-1';
const WEST = 'us-west-2';
const OUTPUT_FIFO = 'switchyard-local_s1-payments.fifo';
const OUTPUT_STANDARD = 'switchyard-local_s1-orders';

interface Sent {
  body: string;
  group?: string;
  attributes: Record<string, MessageAttributeValue>;
}

/** What a received message carries that the snapshot must keep, comparable with toEqual. */
function shapeOf(m: Message): Sent {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, v] of Object.entries(m.MessageAttributes ?? {})) {
    attributes[name] = {
      DataType: v.DataType,
      ...(v.StringValue === undefined ? {} : { StringValue: v.StringValue }),
      ...(v.BinaryValue === undefined ? {} : { BinaryValue: Uint8Array.from(v.BinaryValue) }),
    };
  }
  return {
    body: m.Body!,
    ...(m.Attributes?.MessageGroupId ? { group: m.Attributes.MessageGroupId } : {}),
    attributes,
  };
}

const attributesFor = (i: number, tag: string): Record<string, MessageAttributeValue> => ({
  tenant: { DataType: 'String', StringValue: `${tag}-tenant-${i % 3}` },
  seq: { DataType: 'Number', StringValue: String(i) },
  ...(i % 2 === 0 ? { blob: { DataType: 'Binary', BinaryValue: Uint8Array.from([0, 255, i, 7]) } } : {}),
});

const bySeq = (a: Sent, b: Sent): number => a.body.localeCompare(b.body);

/** A version 1 snapshot file's text. */
function snapshotWith(
  queues: {
    name: string;
    region: string;
    attributes?: Record<string, string>;
    messages: Record<string, unknown>[];
  }[],
): string {
  return JSON.stringify({
    version: 1,
    savedAt: new Date().toISOString(),
    queues: queues.map((q) => ({
      url: `http://sqs.${q.region}.localhost:1/000000000000/${q.name}`,
      attributes: {},
      ...q,
    })),
  });
}

function capturingLog(): LocalLog & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (m) => lines.push(m),
    warn: (m, err) => lines.push(`warn: ${m}${err ? `: ${(err as Error).message}` : ''}`),
    error: (m, err) => lines.push(`error: ${m}${err ? `: ${(err as Error).message}` : ''}`),
  };
}

describe('local runtime: SQS messages across a stop and a start', () => {
  const dirs: string[] = [];
  const running: TestRuntime[] = [];
  const clients: SQSClient[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'switchyard-sqs-snapshot-'));
    dirs.push(d);
    return d;
  };
  const start = async (options: Parameters<typeof startTestRuntime>[0]): Promise<TestRuntime> => {
    const rt = await startTestRuntime(options);
    running.push(rt);
    return rt;
  };
  const stop = async (rt: TestRuntime): Promise<void> => {
    running.splice(running.indexOf(rt), 1);
    await rt.stop();
  };
  const sqsOf = (rt: TestRuntime, region: string): SQSClient => {
    const c = new SQSClient({ region, endpoint: rt.sqsEndpoint, credentials });
    clients.push(c);
    return c;
  };
  const urlOf = async (sqs: SQSClient, name: string): Promise<string> =>
    (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl!;

  /** Receives until the queue stays empty, deleting as it goes (one message at a time: per group order). */
  const receiveAll = async (sqs: SQSClient, url: string, expected: number): Promise<Sent[]> => {
    const got: Sent[] = [];
    for (let empty = 0; got.length < expected || empty < 1; ) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: url,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: got.length < expected ? 5 : 0,
          MessageAttributeNames: ['All'],
          MessageSystemAttributeNames: ['MessageGroupId'],
        }),
      );
      const m = out.Messages?.[0];
      if (!m) {
        if (got.length < expected) throw new Error(`only ${got.length} of ${expected} messages came back`);
        empty++;
        continue;
      }
      got.push(shapeOf(m));
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
    }
    return got;
  };
  const sendAll = async (sqs: SQSClient, url: string, messages: Sent[], fifo: boolean): Promise<void> => {
    for (let i = 0; i < messages.length; i += 10) {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: messages.slice(i, i + 10).map((m, j) => ({
            Id: String(j),
            MessageBody: m.body,
            MessageAttributes: m.attributes,
            ...(fifo ? { MessageGroupId: m.group!, MessageDeduplicationId: `${m.body}-dedup` } : {}),
          })),
        }),
      );
      expect(out.Failed ?? []).toEqual([]);
    }
  };
  const inGroup = (messages: Sent[], group: string): string[] =>
    messages.filter((m) => m.group === group).map((m) => m.body);

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    for (const rt of running.splice(0)) await rt.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('sends back every message of every queue, with its attributes and its place in its FIFO group', async () => {
    const dir = tempDir();
    const firstLog = capturingLog();
    const first = await start({ dir, memory: false, log: firstLog });
    const east = sqsOf(first, EAST);
    const west = sqsOf(first, WEST);

    // A standard fallback queue: 23 messages with String, Number and Binary attributes.
    const standard: Sent[] = Array.from({ length: 23 }, (_, i) => ({
      body: `order ${String(i).padStart(2, '0')}`,
      attributes: attributesFor(i, 'order'),
    }));
    await sendAll(east, await urlOf(east, 'east-orders-fallback'), standard, false);

    // A FIFO fallback queue in the other region: three groups, interleaved.
    const fifo: Sent[] = Array.from({ length: 21 }, (_, i) => ({
      body: `payment ${String(i).padStart(2, '0')}`,
      group: `customer-${i % 3}`,
      attributes: attributesFor(i, 'payment'),
    }));
    const fifoUrl = await urlOf(west, 'west-payments-fallback.fifo');
    await sendAll(west, fifoUrl, fifo, true);
    // A consumer holds the head of customer-0 (received, not deleted) when the runtime stops.
    const held = await west.send(
      new ReceiveMessageCommand({ QueueUrl: fifoUrl, MaxNumberOfMessages: 1, VisibilityTimeout: 300 }),
    );
    expect(held.Messages?.[0]?.Body).toBe('payment 00');

    // Output-like queues the topology does not name (a session's split): created again at start.
    const outputFifo = (
      await west.send(
        new CreateQueueCommand({
          QueueName: OUTPUT_FIFO,
          Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false', VisibilityTimeout: '45' },
        }),
      )
    ).QueueUrl!;
    const output: Sent[] = Array.from({ length: 12 }, (_, i) => ({
      body: `split ${String(i).padStart(2, '0')}`,
      group: i < 8 ? 'tenant-a' : 'tenant-b',
      attributes: { 'switchyard.cluster': { DataType: 'String', StringValue: i % 2 ? 'east' : 'west' } },
    }));
    await sendAll(west, outputFifo, output, true);
    const outputStandard = (await east.send(new CreateQueueCommand({ QueueName: OUTPUT_STANDARD })))
      .QueueUrl!;
    // A delayed message (ReceiveMessage cannot return it yet) is kept too.
    await east.send(
      new SendMessageCommand({
        QueueUrl: outputStandard,
        MessageBody: 'delayed',
        DelaySeconds: 2,
        MessageAttributes: { kind: { DataType: 'String', StringValue: 'late' } },
      }),
    );

    const total = standard.length + fifo.length + output.length + 1;
    await stop(first);
    const file = join(dir, 'data', SQS_SNAPSHOT_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(saved.version).toBe(1);
    expect(saved.queues.reduce((n: number, q: { messages: unknown[] }) => n + q.messages.length, 0)).toBe(
      total,
    );
    expect(firstLog.lines).toContain(
      `saved ${total} messages of 4 SQS queues to ${file}; the next start sends them back`,
    );

    const secondLog = capturingLog();
    const second = await start({ dir, memory: false, log: secondLog });
    expect(existsSync(file)).toBe(false);
    expect(secondLog.lines).toContain(
      `restored ${total} messages into 4 SQS queues (saved at the last stop)`,
    );
    expect(secondLog.lines.filter((l) => l.startsWith('error') || l.startsWith('warn'))).toEqual([]);
    const east2 = sqsOf(second, EAST);
    const west2 = sqsOf(second, WEST);

    const gotStandard = await receiveAll(east2, await urlOf(east2, 'east-orders-fallback'), standard.length);
    expect([...gotStandard].sort(bySeq)).toEqual(standard);

    const gotFifo = await receiveAll(west2, await urlOf(west2, 'west-payments-fallback.fifo'), fifo.length);
    expect([...gotFifo].sort(bySeq)).toEqual(fifo);
    for (const group of ['customer-0', 'customer-1', 'customer-2']) {
      // Received in the order sent within each group, the message that was in flight first.
      expect(inGroup(gotFifo, group)).toEqual(inGroup(fifo, group));
    }

    // The output queue exists again, with the attributes it had, and its messages in order.
    const outputUrl = await urlOf(west2, OUTPUT_FIFO);
    const attrs = await west2.send(
      new GetQueueAttributesCommand({ QueueUrl: outputUrl, AttributeNames: ['All'] }),
    );
    expect(attrs.Attributes).toMatchObject({ FifoQueue: 'true', VisibilityTimeout: '45' });
    const gotOutput = await receiveAll(west2, outputUrl, output.length);
    expect(gotOutput).toEqual(output);
    expect(secondLog.lines).toContain(
      `created SQS queue ${OUTPUT_FIFO} (${WEST}) again for its 12 saved messages (it is not one the runtime creates at start)`,
    );

    expect(await receiveAll(east2, await urlOf(east2, OUTPUT_STANDARD), 1)).toEqual([
      { body: 'delayed', attributes: { kind: { DataType: 'String', StringValue: 'late' } } },
    ]);

    // Nothing left for a third start: the restore deleted the file, and these queues are empty now.
    await stop(second);
    expect(existsSync(file)).toBe(false);
  });
  it('with --memory saves nothing and reads nothing', async () => {
    const dir = tempDir();
    // A file left by an earlier persisted run: --memory leaves it alone.
    const file = join(dir, 'data', SQS_SNAPSHOT_FILE);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const earlier = snapshotWith([
      { name: 'east-orders-fallback', region: EAST, messages: [{ body: 'from the persisted run' }] },
    ]);
    writeFileSync(file, earlier);

    const log = capturingLog();
    const first = await start({ dir, log });
    expect(first.dataDir).toBeNull();
    const east = sqsOf(first, EAST);
    const url = await urlOf(east, 'east-orders-fallback');
    await east.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'thrown away' }));
    await stop(first);
    expect(readFileSync(file, 'utf8')).toBe(earlier);
    expect(log.lines.filter((l) => /saved|restored/.test(l))).toEqual([]);

    const second = await start({ dir });
    const east2 = sqsOf(second, EAST);
    expect(await receiveAll(east2, await urlOf(east2, 'east-orders-fallback'), 0)).toEqual([]);
  });

  it('refuses to start on a file of an unknown version, naming it and leaving it as it is', async () => {
    const dir = tempDir();
    const file = join(dir, 'data', SQS_SNAPSHOT_FILE);
    mkdirSync(join(dir, 'data'), { recursive: true });
    const future = JSON.stringify({ version: 2, savedAt: '2030-01-01T00:00:00.000Z', shards: [] });
    writeFileSync(file, future);

    const err = await startTestRuntime({ dir, memory: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SqsSnapshotError);
    const message = (err as Error).message;
    expect(message).toContain(file);
    expect(message).toContain('format version 2');
    expect(message).toContain('delete it to start with empty queues');
    expect(readFileSync(file, 'utf8')).toBe(future);

    // Everything it had started was stopped again (the data dir is free): deleting the file lets it start.
    rmSync(file);
    await start({ dir, memory: false });
  });

  it('keeps in the file what it could not send back, and sends no message twice', async () => {
    const dir = tempDir();
    const file = join(dir, 'data', SQS_SNAPSHOT_FILE);
    mkdirSync(join(dir, 'data'), { recursive: true });
    writeFileSync(
      file,
      snapshotWith([
        { name: 'east-orders-fallback', region: EAST, messages: [{ body: 'a' }, { body: 'b' }] },
        // Two messages sent more than 5 minutes apart with the same deduplication id: both come back.
        {
          name: 'west-payments-fallback.fifo',
          region: WEST,
          attributes: { FifoQueue: 'true' },
          messages: [
            { body: 'first', messageGroupId: 'g', messageDeduplicationId: 'same' },
            { body: 'second', messageGroupId: 'g', messageDeduplicationId: 'same' },
          ],
        },
        // CreateQueue refuses a FIFO queue whose name lacks .fifo: this one cannot come back.
        { name: 'broken', region: EAST, attributes: { FifoQueue: 'true' }, messages: [{ body: 'stuck' }] },
      ]),
    );

    const log = capturingLog();
    const first = await start({ dir, memory: false, log });
    expect(log.lines).toContain('restored 4 messages into 2 SQS queues (saved at the last stop)');
    expect(log.lines.find((l) => l.startsWith('error:'))).toMatch(
      new RegExp(
        `^error: could not restore 1 message into SQS queue broken \\(${EAST}\\); they stay in ${file}`,
      ),
    );
    // Only what is left stays in the file.
    const left = JSON.parse(readFileSync(file, 'utf8'));
    expect(
      left.queues.map((q: { name: string; messages: { body: string }[] }) => [
        q.name,
        q.messages.map((m) => m.body),
      ]),
    ).toEqual([['broken', ['stuck']]]);
    const west = sqsOf(first, WEST);
    expect(
      (await receiveAll(west, await urlOf(west, 'west-payments-fallback.fifo'), 2)).map((m) => m.body),
    ).toEqual(['first', 'second']);

    // Stopped again: the next save keeps the leftover and adds what the queues hold now.
    await stop(first);
    const saved = JSON.parse(readFileSync(file, 'utf8'));
    expect(
      saved.queues.map((q: { name: string; messages: { body: string }[] }) => [
        q.name,
        q.messages.map((m) => m.body).sort(),
      ]),
    ).toEqual([
      ['broken', ['stuck']],
      ['east-orders-fallback', ['a', 'b']],
    ]);

    const second = await start({ dir, memory: false });
    const east = sqsOf(second, EAST);
    const again = await receiveAll(east, await urlOf(east, 'east-orders-fallback'), 2);
    expect(again.map((m) => m.body).sort()).toEqual(['a', 'b']);
  });
});
