import {
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchCommandInput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { queueArnsFromEnv } from '../../functions/lib/queue-arns.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { ATTR_CLUSTER, type SourceRecord } from '../../shared/split/message.ts';
import { QueueUrls } from '../../shared/split/queue-urls.ts';
import { retireSplitQueuesDuty } from '../../shared/split/retire-duty.ts';
import { createSplitter } from '../../shared/split/splitter.ts';
import { resolveSource } from '../../shared/split/topology-queues.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';

/**
 * Queues of another account (CDK context `queueArns`): the splitter recognises a source queue by
 * region and name whatever its account, and looks each fallback's URL up in the account that owns
 * it, which is never simply the source queue's.
 */

const OWNER = '444455556666';
const FALLBACK_OWNER = '777788889999';
const topology = parseTopology({
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      region: 'us-east-1',
      queues: [{ name: 'orders', source: 'east-orders', fallback: 'switchyard-east-orders-fallback' }],
    },
    {
      id: 'west',
      roles: ['workload'],
      region: 'us-west-2',
      queues: [{ name: 'orders', source: 'west-orders', fallback: 'west-orders-fallback' }],
    },
  ],
});
const WEST_FALLBACK_ARN = `arn:aws:sqs:us-west-2:${FALLBACK_OWNER}:west-orders-fallback`;

interface Call {
  region: string;
  command: string;
  input: Record<string, unknown>;
}

/** SQS clients per region that answer like SQS and record every call; `answer` overrides a command. */
function fakeSqs(answer: (c: Call) => unknown = () => undefined) {
  const calls: Call[] = [];
  const client = (region: string) =>
    ({
      send: async (cmd: { input: Record<string, unknown> }) => {
        const call = { region, command: cmd.constructor.name, input: cmd.input };
        calls.push(call);
        const given = answer(call);
        if (given !== undefined) return given;
        if (cmd instanceof GetQueueUrlCommand) {
          const owner = (cmd.input.QueueOwnerAWSAccountId as string | undefined) ?? '123456789012';
          return { QueueUrl: `https://sqs.${region}.amazonaws.com/${owner}/${cmd.input.QueueName}` };
        }
        if (cmd instanceof SendMessageBatchCommand) {
          const input = cmd.input as SendMessageBatchCommandInput;
          return { Successful: (input.Entries ?? []).map((e) => ({ Id: e.Id })), Failed: [] };
        }
        return {};
      },
    }) as unknown as SQSClient;
  const clients = new Map<string, SQSClient>();
  const sqsFor = (region: string) => {
    if (!clients.has(region)) clients.set(region, client(region));
    return clients.get(region)!;
  };
  return { calls, sqs: sqsFor('us-east-1'), sqsFor };
}

const record = (arn: string, id = 'm1'): SourceRecord => ({
  messageId: id,
  body: `body of ${id}`,
  attributes: {},
  messageAttributes: {},
  eventSourceARN: arn,
});

function splitterWith(sqs: ReturnType<typeof fakeSqs>, queueArns?: Record<string, string>) {
  return createSplitter({
    store: new MemoryStore(),
    sqs: sqs.sqs,
    sqsFor: sqs.sqsFor,
    topology,
    settings: parseSettings({}),
    now: () => 1_000_000,
    ...(queueArns ? { queueArns } : {}),
  });
}

const named = (calls: Call[], command: string) =>
  calls.filter((c) => c.command === command).map(({ region, input }) => ({ region, input }));

describe('source queues of another account', () => {
  it('are recognised by region and name, whatever the account', () => {
    const here = resolveSource(topology, 'arn:aws:sqs:us-west-2:123456789012:west-orders');
    const there = resolveSource(topology, `arn:aws:sqs:us-west-2:${OWNER}:west-orders`);
    expect(there.cluster).toBe(here.cluster);
    expect(there.queue).toBe(here.queue);
    expect(there).toMatchObject({ region: 'us-west-2', logical: 'orders', account: OWNER });
  });

  it("route to a fallback the stack created, looked up in the splitter's own account, not the source's", async () => {
    const sqs = fakeSqs();
    const result = await splitterWith(sqs, {
      'east-orders': `arn:aws:sqs:us-east-1:${OWNER}:east-orders`,
    }).handle([record(`arn:aws:sqs:us-east-1:${OWNER}:east-orders`)]);
    expect(result.batchItemFailures).toEqual([]);
    expect(named(sqs.calls, 'GetQueueUrlCommand')).toEqual([
      { region: 'us-east-1', input: { QueueName: 'switchyard-east-orders-fallback' } },
    ]);
    expect(named(sqs.calls, 'SendMessageBatchCommand').map((c) => c.input.QueueUrl)).toEqual([
      'https://sqs.us-east-1.amazonaws.com/123456789012/switchyard-east-orders-fallback',
    ]);
  });

  it("route to the user's fallback in the account its ARN names", async () => {
    const sqs = fakeSqs();
    const result = await splitterWith(sqs, {
      'west-orders': `arn:aws:sqs:us-west-2:${OWNER}:west-orders`,
      'west-orders-fallback': WEST_FALLBACK_ARN,
    }).handle([record(`arn:aws:sqs:us-west-2:${OWNER}:west-orders`)]);
    expect(result.batchItemFailures).toEqual([]);
    expect(named(sqs.calls, 'GetQueueUrlCommand')).toEqual([
      {
        region: 'us-west-2',
        input: { QueueName: 'west-orders-fallback', QueueOwnerAWSAccountId: FALLBACK_OWNER },
      },
    ]);
    expect(named(sqs.calls, 'SendMessageBatchCommand').map((c) => c.input.QueueUrl)).toEqual([
      `https://sqs.us-west-2.amazonaws.com/${FALLBACK_OWNER}/west-orders-fallback`,
    ]);
  });
});

describe('QueueUrls', () => {
  it('names the owner only for a queue whose ARN is of that region and name', async () => {
    const sqs = fakeSqs();
    const urls = new QueueUrls({
      ...sqs,
      queueArns: {
        'west-orders-fallback': WEST_FALLBACK_ARN,
        'east-orders-fallback': `arn:aws:sqs:us-east-1:${OWNER}:other-name`,
      },
    });
    await urls.get('us-west-2', 'west-orders-fallback');
    await urls.get('us-east-1', 'west-orders-fallback');
    await urls.get('us-east-1', 'east-orders-fallback');
    expect(named(sqs.calls, 'GetQueueUrlCommand').map((c) => c.input)).toEqual([
      { QueueName: 'west-orders-fallback', QueueOwnerAWSAccountId: FALLBACK_OWNER },
      { QueueName: 'west-orders-fallback' },
      { QueueName: 'east-orders-fallback' },
    ]);
  });
});

describe('the reconciler returning stolen leftovers', () => {
  it("sends them to the user's fallback in the account its ARN names", async () => {
    const store = new MemoryStore();
    const outputUrl = 'https://sqs.us-east-1.amazonaws.com/123456789012/switchyard-dev_s1-orders';
    await store.put({
      ...keys.sessionSplit('s1', 'orders'),
      kind: KINDS.sessionSplit,
      sessionId: 's1',
      queue: 'orders',
      mode: 'steal',
      filter: { tenant: '^acme$' },
      owner: 'developer:alice',
      createdAt: 1_000,
      status: 'draining',
      fifo: false,
      outputQueueName: 'switchyard-dev_s1-orders',
      outputRegion: 'us-east-1',
      outputQueueUrl: outputUrl,
      endedAt: 2_000,
      drainDeadline: 2_000,
    });
    let received = false;
    const sqs = fakeSqs((c) => {
      if (c.command === GetQueueAttributesCommand.name) {
        return { Attributes: { ApproximateNumberOfMessages: received ? '0' : '1', VisibilityTimeout: '0' } };
      }
      if (c.command === ReceiveMessageCommand.name) {
        if (received) return { Messages: [] };
        received = true;
        return {
          Messages: [
            {
              MessageId: 'm1',
              ReceiptHandle: 'r1',
              Body: 'stolen',
              MessageAttributes: { [ATTR_CLUSTER]: { DataType: 'String', StringValue: 'west' } },
            },
          ],
        };
      }
      return undefined;
    });
    const fenced = {
      token: 1,
      put: store.put.bind(store),
      update: store.update.bind(store),
      delete: store.delete.bind(store),
    };

    const result = await retireSplitQueuesDuty.run({
      store,
      now: () => 10_000_000,
      fenced,
      isLeader: () => true,
      settings: parseSettings({}),
      topology,
      deps: { sqs: sqs.sqs, sqsFor: sqs.sqsFor, queueArns: { 'west-orders-fallback': WEST_FALLBACK_ARN } },
      log: { info() {}, warn() {}, error() {} },
    } as never);

    expect(result).toMatchObject({ retired: ['s1/orders'], returned: 1 });
    expect(named(sqs.calls, 'GetQueueUrlCommand')).toEqual([
      {
        region: 'us-west-2',
        input: { QueueName: 'west-orders-fallback', QueueOwnerAWSAccountId: FALLBACK_OWNER },
      },
    ]);
    expect(named(sqs.calls, 'SendMessageBatchCommand').map((c) => c.input.QueueUrl)).toEqual([
      `https://sqs.us-west-2.amazonaws.com/${FALLBACK_OWNER}/west-orders-fallback`,
    ]);
    expect(named(sqs.calls, DeleteMessageBatchCommand.name)).toHaveLength(1);
    expect(named(sqs.calls, DeleteQueueCommand.name)).toEqual([
      { region: 'us-east-1', input: { QueueUrl: outputUrl } },
    ]);
  });
});

describe('SWITCHYARD_QUEUE_ARNS', () => {
  it('is read as queue ARN by name; unset means every queue is in the own account', () => {
    expect(queueArnsFromEnv({})).toEqual({});
    expect(
      queueArnsFromEnv({ [ENV.queueArns]: JSON.stringify({ 'west-orders-fallback': WEST_FALLBACK_ARN }) }),
    ).toEqual({
      'west-orders-fallback': WEST_FALLBACK_ARN,
    });
  });

  it.each(['{not json', '["a"]', '{"q":1}'])('refuses %s, naming the variable and the fix', (raw) => {
    expect(() => queueArnsFromEnv({ [ENV.queueArns]: raw })).toThrow(
      /environment variable SWITCHYARD_QUEUE_ARNS .*redeploy the stack, which sets it from context "queueArns"/,
    );
  });
});
