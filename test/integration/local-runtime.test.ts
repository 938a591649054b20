import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ScheduledEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { ENV } from '../../functions/lib/env.ts';
import { authenticate } from '../../shared/auth/tokens.ts';
import { TopologyError } from '../../shared/config/topology.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { startDynalite } from '../helpers/dynalite.ts';
import { eventually, startTestRuntime, TEST_TOPOLOGY, type TestRuntime } from '../helpers/local-runtime.ts';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('local runtime: embedded services, tokens and local.json', () => {
  let rt: TestRuntime;
  const reconcilerRuns: ScheduledEvent[] = [];

  beforeAll(async () => {
    rt = await startTestRuntime({
      settings: { reconcileEveryMs: 100 },
      handlers: {
        reconciler: async (event) => {
          reconcilerRuns.push(event);
          if (reconcilerRuns.length === 1) throw new Error('a failing run must not stop the schedule');
        },
      },
    });
  });
  afterAll(() => rt?.stop());

  it('serves the table through a real DynamoDB client', async () => {
    const client = new DynamoDBClient({ region: rt.region, endpoint: rt.dynamodbEndpoint, credentials });
    const table = await client.send(new DescribeTableCommand({ TableName: rt.tableName }));
    expect(table.Table?.TableStatus).toBe('ACTIVE');
    expect(table.Table?.KeySchema?.map((k) => k.AttributeName)).toEqual(['pk', 'sk']);

    const doc = DynamoDBDocumentClient.from(client);
    await doc.send(new PutCommand({ TableName: rt.tableName, Item: { pk: 'TEST#1', sk: 'TEST', n: 42 } }));
    const got = await doc.send(
      new GetCommand({ TableName: rt.tableName, Key: { pk: 'TEST#1', sk: 'TEST' } }),
    );
    expect(got.Item).toEqual({ pk: 'TEST#1', sk: 'TEST', n: 42 });
    client.destroy();
  });

  it('creates every configured queue in its cluster region, FIFO where the name says so', async () => {
    const expected = [
      ['us-east-1', 'east-orders', undefined],
      ['us-east-1', 'east-orders-fallback', undefined],
      ['us-west-2', 'west-payments.fifo', 'true'],
      ['us-west-2', 'west-payments-fallback.fifo', 'true'],
    ] as const;
    for (const [region, name, fifo] of expected) {
      const sqs = new SQSClient({ region, endpoint: rt.sqsEndpoint, credentials });
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['All'] }));
      expect(attrs.Attributes?.FifoQueue, name).toBe(fifo);
      expect(rt.queues.find((q) => q.queueName === name)?.url).toBe(QueueUrl);
      sqs.destroy();
    }
  });

  it('sends and receives through the SQS endpoint', async () => {
    const sqs = new SQSClient({ region: 'us-east-1', endpoint: rt.sqsEndpoint, credentials });
    // The fallback queue: no poller reads it, so the message waits for this test.
    const url = rt.queues.find((q) => q.queueName === 'east-orders-fallback')!.url;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'hello' }));
    const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 1 }));
    expect(out.Messages?.map((m) => m.Body)).toEqual(['hello']);
    sqs.destroy();
  });

  it('registers the developer token and one token per cluster', async () => {
    const client = new DynamoDBClient({ region: rt.region, endpoint: rt.dynamodbEndpoint, credentials });
    const store = new DynamoDbStore(client, rt.tableName);
    expect(rt.developerToken).toMatch(/^sy_dev_/);
    expect(await authenticate(store, rt.developerToken)).toEqual({ type: 'developer', id: 'local' });
    expect(Object.keys(rt.clusterTokens).sort()).toEqual(['east', 'west']);
    for (const [clusterId, token] of Object.entries(rt.clusterTokens)) {
      expect(token).toMatch(/^sy_cl_/);
      expect(await authenticate(store, token)).toEqual({ type: 'cluster', clusterId });
    }
    await expect(authenticate(store, 'sy_dev_not-a-real-token')).rejects.toThrow(/bearer token/);
    client.destroy();
  });

  it('writes local.json, readable by its owner only', async () => {
    const file = rt.stateFile!;
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const state = JSON.parse(await readFile(file, 'utf8'));
    expect(state).toMatchObject({
      httpUrl: rt.httpUrl,
      wsUrl: rt.wsUrl,
      managementEndpoint: rt.managementEndpoint,
      region: 'us-east-1',
      sqs: { endpoint: rt.sqsEndpoint },
      dynamodb: { endpoint: rt.dynamodbEndpoint, table: 'switchyard' },
      developerToken: rt.developerToken,
      clusters: { east: { token: rt.clusterTokens.east }, west: { token: rt.clusterTokens.west } },
      pid: process.pid,
      dataDir: null,
    });
    expect(Object.keys(state.sqs.queues)).toHaveLength(4);
    expect(Number.isNaN(Date.parse(state.startedAt))).toBe(false);
  });

  it('gives the handlers the function environment', () => {
    expect(process.env[ENV.table]).toBe('switchyard');
    expect(process.env[ENV.wsManagementEndpoint]).toBe(rt.managementEndpoint);
    expect(process.env[ENV.dynamodbEndpoint]).toBe(rt.dynamodbEndpoint);
    expect(process.env[ENV.sqsEndpoint]).toBe(rt.sqsEndpoint);
    expect(process.env.AWS_REGION).toBe('us-east-1');
    expect(JSON.parse(process.env[ENV.topology]!).clusters.map((c: { id: string }) => c.id)).toEqual([
      'east',
      'west',
    ]);
    expect(JSON.parse(process.env[ENV.settings]!).reconcileEveryMs).toBe(100);
  });

  it('runs the reconciler on its schedule with an EventBridge event, past a failing run', async () => {
    await eventually(() => reconcilerRuns.length >= 3, 10_000, 'three reconciler runs');
    expect(reconcilerRuns[0]).toMatchObject({
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      region: 'us-east-1',
      detail: {},
    });
  });
});

describe('local runtime: default wiring', () => {
  let rt: TestRuntime;
  const before = process.env[ENV.wsManagementEndpoint];

  beforeAll(async () => {
    // No handler overrides: the real files under functions/ are imported.
    rt = await startTestRuntime();
  });
  afterAll(() => rt?.stop());

  it('serves the HTTP API from functions/http/app.ts', async () => {
    const res = await fetch(`${rt.httpUrl}/healthz`);
    expect(res.status).toBe(200);
  });

  it('answers a WebSocket upgrade through functions/ws/index.ts (accepted or refused, never a crash)', async () => {
    const ws = new WebSocket(rt.wsUrl);
    const outcome = await new Promise<number>((resolve) => {
      ws.once('open', () => resolve(101));
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', () => resolve(-1));
    });
    ws.terminate();
    expect(outcome === 101 || (outcome >= 400 && outcome < 500)).toBe(true);
  });

  it('restores the environment it changed when stopped', async () => {
    await rt.stop();
    expect(process.env[ENV.wsManagementEndpoint]).toBe(before);
  });
});

describe('local runtime: refusing to start', () => {
  it('rejects an invalid topology with the rule that broke', async () => {
    const topology = {
      ...TEST_TOPOLOGY,
      clusters: TEST_TOPOLOGY.clusters.map((c) => ({ ...c, roles: ['workload'] })),
    };
    const err = await startTestRuntime({ topology }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TopologyError);
    expect((err as TopologyError).problems.map((p) => p.rule)).toEqual(['one-primary', 'one-default']);
    expect((err as Error).message).toContain('add "primary" to the roles of exactly one cluster');
  });

  it('rejects invalid settings by name', async () => {
    await expect(startTestRuntime({ settings: { reconcileEveryMs: 5 } })).rejects.toThrow(/reconcileEveryMs/);
  });

  it('refuses a port that is taken, saying which flag to use', async () => {
    const first = await startTestRuntime();
    try {
      const port = Number(new URL(first.httpUrl).port);
      await expect(startTestRuntime({ port })).rejects.toThrow(`port ${port} is in use: pass --port`);
    } finally {
      await first.stop();
    }
  });
});

describe('local runtime on a DynamoDB that runs elsewhere (dynamodbEndpoint)', () => {
  it('creates its table there, keeps its state there, and leaves that DynamoDB running when it stops', async () => {
    // Arrange: a DynamoDB the runtime does not own
    const external = await startDynalite();
    try {
      // Act
      const rt = await startTestRuntime({ dynamodbEndpoint: external.endpoint });
      let stopped = false;
      try {
        // Assess: the runtime's endpoint is that one, and its tokens were provisioned there
        expect(rt.dynamodbEndpoint).toBe(external.endpoint);
        const store = new DynamoDbStore(external.client, rt.tableName);
        expect(await authenticate(store, rt.developerToken)).toEqual({ type: 'developer', id: 'local' });
        await rt.stop();
        stopped = true;
        const table = await external.client.send(new DescribeTableCommand({ TableName: rt.tableName }));
        expect(table.Table?.TableStatus).toBe('ACTIVE');
      } finally {
        if (!stopped) await rt.stop();
      }
    } finally {
      await external.stop();
    }
  });
});
