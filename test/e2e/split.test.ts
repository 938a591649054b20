import { ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { api, type CliRun, cli, startCluster, type TestCluster } from './harness.ts';

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      queues: [
        {
          name: 'orders',
          source: 'east-orders',
          fallback: 'switchyard-east-orders-fb',
          env: 'ORDERS_QUEUE_URL',
        },
      ],
    },
    {
      id: 'west',
      roles: ['workload'],
      region: 'us-west-2',
      queues: [
        {
          name: 'orders',
          source: 'west-orders',
          fallback: 'switchyard-west-orders-fb',
          env: 'ORDERS_QUEUE_URL',
        },
      ],
    },
  ],
};

let runtime: TestRuntime;
let clusters: TestCluster[];
const sqs = (region: string) =>
  new SQSClient({
    region,
    endpoint: runtime.sqsEndpoint,
    credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
  });
const url = (name: string) => runtime.queues.find((q) => q.queueName === name)!.url;

async function drain(client: SQSClient, queueUrl: string, want: number): Promise<string[]> {
  const bodies: string[] = [];
  await eventually(
    async () => {
      const out = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of out.Messages ?? []) bodies.push(m.Body!);
      return bodies.length >= want;
    },
    20_000,
    `${want} messages on ${queueUrl}`,
  );
  return bodies.sort();
}

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  clusters = [await startCluster(runtime, 'east'), await startCluster(runtime, 'west')];
});

afterAll(async () => {
  for (const c of clusters ?? []) {
    await c.connector.stop();
    c.upstream.close();
  }
  await runtime?.stop();
});

describe('switchyard split', () => {
  let run: CliRun;

  it('prints the matching messages of every cluster; the rest reach each cluster’s own fallback queue', async () => {
    run = cli(runtime, ['split', 'orders', '--filter', 'customer=^acme$', '--print']);
    await run.waitFor(/output queue: (\S+)/, 'stdout');
    const outputQueue = run.stdout().match(/output queue: (\S+)/)![1]!;
    // The local runtime is the `local` stage.
    expect(outputQueue).toMatch(/\/switchyard-local_[^/]+-orders$/);

    for (const [region, source] of [
      ['us-east-1', 'east-orders'],
      ['us-west-2', 'west-orders'],
    ] as const) {
      for (const customer of ['acme', 'globex']) {
        await sqs(region).send(
          new SendMessageCommand({
            QueueUrl: url(source),
            MessageBody: `${customer} via ${source}`,
            MessageAttributes: { customer: { DataType: 'String', StringValue: customer } },
          }),
        );
      }
    }

    await run.waitFor(/acme via east-orders/, 'stdout');
    await run.waitFor(/acme via west-orders/, 'stdout');
    expect(run.stdout()).not.toContain('globex');
    expect(await drain(sqs('us-east-1'), url('switchyard-east-orders-fb'), 1)).toEqual([
      'globex via east-orders',
    ]);
    expect(await drain(sqs('us-west-2'), url('switchyard-west-orders-fb'), 1)).toEqual([
      'globex via west-orders',
    ]);
  });

  it('points the queue env var of `env --session` at the output queue, so a local consumer just runs', async () => {
    const sessionId = run.stdout().match(/session: +(\w+)/)![1]!;
    const outputQueue = run.stdout().match(/output queue: (\S+)/)![1]!;
    const env = cli(runtime, ['env', 'api', '--session', sessionId, '--json']);
    expect(await env.exited).toBe(0);
    expect(JSON.parse(env.stdout())).toMatchObject({ ORDERS_QUEUE_URL: outputQueue, CLUSTER_NAME: 'east' });
    // env took the session's connection over (the split's was closed as replaced); once env left,
    // the split holds it again, rather than fighting env for it or leaving the session unheard.
    await run.waitFor(/took session \w+'s connection over/);
    await run.waitFor(/the other switchyard left: this one keeps session \w+ alive again/);
  });

  it('ends the split on Ctrl-C: the session closes and new messages all reach the fallback queues', async () => {
    const sessionId = run.stdout().match(/session: +(\w+)/)![1]!;
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect((await api(runtime, 'GET', `/v1/sessions/${sessionId}`)).body.state).toBe('closed');
    // A splitter may route by registrations up to `splitCacheMs` (1 s) old: a message in that
    // window still reaches the draining output queue and goes back to the fallback only when the
    // queue is retired. Past the window, every message goes straight to the fallback.
    await new Promise((r) => setTimeout(r, 1_500));
    await sqs('us-east-1').send(
      new SendMessageCommand({
        QueueUrl: url('east-orders'),
        MessageBody: 'acme after the end',
        MessageAttributes: { customer: { DataType: 'String', StringValue: 'acme' } },
      }),
    );
    expect(await drain(sqs('us-east-1'), url('switchyard-east-orders-fb'), 1)).toEqual([
      'acme after the end',
    ]);
  });

  it('splits a queue from an intercept too, and prints its output queue', async () => {
    const run2 = cli(runtime, [
      'intercept',
      'api',
      '--to',
      '9',
      '--split',
      'orders',
      '--split-filter',
      'customer=^initech$',
    ]);
    await run2.waitFor(/split orders: matching messages from every cluster arrive on (\S+)/);
    const outputQueue = run2.stderr().match(/arrive on (\S+)/)![1]!;
    // A splitter routes by registrations up to `splitCacheMs` (1 s) old: the west splitter may
    // still hold a view from before this split (documented behaviour). Send past that window.
    await new Promise((r) => setTimeout(r, 1_500));
    await sqs('us-west-2').send(
      new SendMessageCommand({
        QueueUrl: url('west-orders'),
        MessageBody: 'initech via west',
        MessageAttributes: { customer: { DataType: 'String', StringValue: 'initech' } },
      }),
    );
    expect(await drain(sqs('us-east-1'), outputQueue, 1)).toEqual(['initech via west']);
    run2.child.kill('SIGINT');
    expect(await run2.exited).toBe(0);
  });
});
