import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { type DevRun, type DevState, startDev } from './failover-scenario.ts';

const sqsOf = (state: DevState): SQSClient =>
  new SQSClient({
    region: state.region,
    endpoint: state.sqs.endpoint,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });

async function send(
  sqs: SQSClient,
  url: string,
  bodies: string[],
  group?: (i: number) => string,
): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: bodies.slice(i, i + 10).map((body, j) => ({
          Id: String(j),
          MessageBody: body,
          MessageAttributes: { n: { DataType: 'Number', StringValue: String(i + j) } },
          ...(group ? { MessageGroupId: group(i + j), MessageDeduplicationId: body } : {}),
        })),
      }),
    );
    expect(out.Failed ?? []).toEqual([]);
  }
}

/** Receives and deletes one at a time until `expected` bodies came (and then nothing more). */
async function receive(sqs: SQSClient, url: string, expected: number): Promise<string[]> {
  const got: string[] = [];
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 1,
        WaitTimeSeconds: got.length < expected ? 5 : 0,
      }),
    );
    const m = out.Messages?.[0];
    if (!m) {
      if (got.length < expected)
        throw new Error(`only ${got.length} of ${expected} messages came back: ${got}`);
      return got;
    }
    got.push(m.Body!);
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle! }));
  }
}

/**
 * `switchyard dev` stopped with Ctrl-C and started again on its data dir: the messages the
 * embedded SQS held come back. With `--replicas`, the primary saves them once every worker has
 * stopped polling.
 */
describe.each([
  { name: 'one process', replicas: undefined },
  { name: '--replicas 2', replicas: 2 },
])('switchyard dev keeps its SQS messages across Ctrl-C ($name)', ({ replicas }) => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch {}
    }
  });

  it('saves at Ctrl-C and sends back at the next start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-restart-messages-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const devs: DevRun[] = [];
    cleanup.push(async () => {
      for (const d of devs) await d.stop();
    });
    const first = await startDev({ dir, memory: false, ...(replicas ? { replicas } : {}) });
    devs.push(first);
    const sqs = sqsOf(first.state);
    cleanup.push(() => sqs.destroy());

    const fallback = Array.from({ length: 15 }, (_, i) => `fallback ${i}`);
    await send(sqs, first.state.sqs.queues['east-orders-fallback']!, fallback);
    const fifoUrl = (
      await sqs.send(new CreateQueueCommand({ QueueName: 'mine.fifo', Attributes: { FifoQueue: 'true' } }))
    ).QueueUrl!;
    const fifo = Array.from({ length: 12 }, (_, i) => `fifo ${String(i).padStart(2, '0')}`);
    await send(sqs, fifoUrl, fifo, (i) => `g${i % 2}`);

    // Sent to the source queue right before Ctrl-C: the pollers are busy splitting them (no
    // session: each goes to the fallback queue) when the stop comes. Whether split before the stop
    // or after the start, each must reach the fallback queue exactly once.
    const source = Array.from({ length: 40 }, (_, i) => `source ${i}`);
    await send(sqs, first.state.sqs.queues['east-orders']!, source);

    expect(await first.stop()).toBe(0);
    expect(first.stderr()).toMatch(/saved \d+ messages of [23] SQS queues to /);
    // Once, by the process that runs the embedded SQS.
    expect(first.stderr().match(/saved \d+ messages/g)).toHaveLength(1);

    const second = await startDev({ dir, memory: false, ...(replicas ? { replicas } : {}) });
    devs.push(second);
    expect(second.stderr()).toMatch(/restored \d+ messages into [23] SQS queues/);
    const sqs2 = sqsOf(second.state);
    cleanup.push(() => sqs2.destroy());
    const gotFallback = await receive(
      sqs2,
      second.state.sqs.queues['east-orders-fallback']!,
      fallback.length + source.length,
    );
    expect(gotFallback.sort()).toEqual([...fallback, ...source].sort());
    const fifoUrl2 = (await sqs2.send(new GetQueueUrlCommand({ QueueName: 'mine.fifo' }))).QueueUrl!;
    const gotFifo = await receive(sqs2, fifoUrl2, fifo.length);
    for (const g of [0, 1]) {
      expect(gotFifo.filter((b) => Number(b.slice(5)) % 2 === g)).toEqual(fifo.filter((_, i) => i % 2 === g));
    }
  });
});
