import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/local-runtime.ts';
import { type DevRun, type DevState, routerOf, startDev } from './failover-scenario.ts';
import {
  api,
  type CliRun,
  cli,
  get,
  listen,
  namedServer,
  startCluster,
  type TestCluster,
} from './harness.ts';

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
 * The whole local runtime stopped mid-session (Ctrl-C) and started again on the same data dir
 * and port: the CLI and the connectors reconnect on their own, the same sessions carry on
 * (traffic and the SQS split), and no new session appears; the messages the embedded SQS held
 * come back (with `--replicas`, the primary saves them once every worker has stopped polling).
 */
describe.each([
  { name: 'one process', replicas: undefined },
  { name: '--replicas 2', replicas: 2 },
])('switchyard dev restarted on its data dir ($name)', ({ replicas }) => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch {}
    }
  });

  it('resumes the intercept and the split of a live session', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-restart-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const devs: DevRun[] = [];
    cleanup.push(async () => {
      for (const d of devs) await d.stop();
    });
    const first = await startDev({ dir, memory: false, ...(replicas ? { replicas } : {}) });
    devs.push(first);
    const port = Number(new URL(first.state.httpUrl).port);
    const rt = routerOf(first.state);

    const clusters: TestCluster[] = [];
    for (const id of ['east', 'west']) clusters.push(await startCluster(rt, id));
    cleanup.push(async () => {
      for (const c of clusters) {
        await c.connector.stop();
        c.upstream.close();
      }
    });
    const app: Server = namedServer('local-app');
    const appPort = await listen(app);
    cleanup.push(() => app.close());
    const runs: CliRun[] = [];
    cleanup.push(async () => {
      for (const r of runs) {
        if (r.child.exitCode === null) {
          r.child.kill('SIGINT');
          await r.exited;
        }
      }
    });

    const intercept = cli(rt, ['intercept', 'api', '--to', String(appPort), '--header', 'x-dev=^alice$']);
    runs.push(intercept);
    await intercept.waitFor(/session (\w+): Ctrl-C/, 'stderr', 60_000);
    const interceptSession = intercept.stderr().match(/session (\w+): Ctrl-C/)![1]!;
    const split = cli(rt, ['split', 'orders', '--filter', 'tenant=^alice$']);
    runs.push(split);
    await split.waitFor(/session: +(\w+)/, 'stdout', 60_000);
    const splitSession = split.stdout().match(/session: +(\w+)/)![1]!;
    const outputQueue = split.stdout().match(/output queue: (\S+)/)![1]!;
    for (const c of clusters) {
      expect((await get(`${c.ingressUrl}/before`, { 'x-dev': 'alice' })).servedBy).toBe('local-app');
    }

    // Ctrl-C the whole runtime mid-session, then start it again on the same data dir and port.
    expect(await first.stop()).toBe(0);
    await intercept.waitFor(/router connection lost/);
    const second = await startDev({ dir, memory: false, port, ...(replicas ? { replicas } : {}) });
    devs.push(second);
    expect(second.state.httpUrl).toBe(first.state.httpUrl);
    // The embedded SQS listens on its old port, so stored queue URLs stay valid.
    expect(second.state.sqs.endpoint).toBe(first.state.sqs.endpoint);

    // The CLI resumed the same session; the split's session is back on its connection too.
    await intercept.waitFor(new RegExp(`reconnected: session ${interceptSession} resumed`), 'stderr', 60_000);
    for (const c of clusters) {
      const r = await eventually(
        async () => {
          const res = await get(`${c.ingressUrl}/after`, { 'x-dev': 'alice' });
          return res.servedBy === 'local-app' ? res : undefined;
        },
        60_000,
        `${c.id} to reach the local app again`,
      );
      expect(r.text).toBe('local-app GET /after');
    }
    const live = await eventually(async () => {
      const { body } = await api(rt, 'GET', '/v1/sessions?state=live');
      const sessions = body.sessions as { id: string; state: string }[];
      return sessions.every((s) => s.state === 'ready') ? sessions : undefined;
    }, 30_000);
    expect(live.map((s) => s.id).sort()).toEqual([interceptSession, splitSession].sort());
    expect(intercept.child.exitCode).toBeNull();
    expect(split.child.exitCode, split.stderr()).toBeNull();

    // The split goes on: its output queue exists again, and a matching message reaches it.
    const sqs = new SQSClient({
      region: second.state.region,
      endpoint: second.state.sqs.endpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    cleanup.push(() => sqs.destroy());
    const name = outputQueue.split('/').at(-1)!;
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl).toBe(outputQueue);
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: second.state.sqs.queues['east-orders']!,
        MessageBody: 'order for alice, after the restart',
        MessageAttributes: { tenant: { DataType: 'String', StringValue: 'alice' } },
      }),
    );
    const received = await eventually(
      async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: outputQueue,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
          }),
        );
        return out.Messages?.[0];
      },
      30_000,
      'the message on the output queue',
    );
    expect(received.Body).toBe('order for alice, after the restart');
    expect(received.MessageAttributes?.tenant?.StringValue).toBe('alice');
  }, 240_000);

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
