import { describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { TABLE_REGION_ENV } from '../../infra/constructs/function-environment.ts';
import { SEND_ACTIONS } from '../../infra/constructs/queue-access.ts';
import { SPLITTER_WRITABLE_KEYS, STORE_READ_ACTIONS } from '../../infra/constructs/state-table.ts';
import { DeploymentConfigError } from '../../infra/errors.ts';
import type { SplitterStack } from '../../infra/splitter-stack.ts';
import {
  ACCOUNT,
  build,
  logicalId,
  MIXED,
  statementsOfRole,
  TWO_REGIONS,
  templateOf,
  text,
} from './fixtures.ts';

const CONSUME_ACTIONS = [
  'sqs:ReceiveMessage',
  'sqs:ChangeMessageVisibility',
  'sqs:GetQueueUrl',
  'sqs:DeleteMessage',
  'sqs:GetQueueAttributes',
];
const sqsArn = (region: string, name: string) => `arn:<AWS::Partition>:sqs:${region}:${ACCOUNT}:${name}`;
const tableArn = (region: string, suffix = '') =>
  `arn:<AWS::Partition>:dynamodb:${region}:${ACCOUNT}:table/switchyard-dev${suffix}`;

function splitter(built: ReturnType<typeof build>, region: string): SplitterStack {
  const stack = built.deployment.splitters.get(region);
  if (!stack) throw new Error(`no splitter stack in ${region}`);
  return stack;
}

describe('splitter stacks', () => {
  it('makes one stack per region holding source queues, each depending on the router', () => {
    const built = build();
    expect([...built.deployment.splitters.keys()]).toEqual(['us-east-1', 'us-west-2']);
    for (const [region, stack] of built.deployment.splitters) {
      expect(stack.region).toBe(region);
      expect(stack.stackName).toBe(`Switchyard-dev-Splitter-${region}`);
      expect(stack.dependencies).toContain(built.deployment.router);
    }
    // The management-only primary has no queues: no stack for the router region.
    expect([...build({ topology: MIXED }).deployment.splitters.keys()]).toEqual([
      'eu-west-1',
      'ap-southeast-2',
    ]);
  });

  it('runs the splitter on Node 22, arm64, with the timeout and memory from context', () => {
    const stack = splitter(
      build({ context: { splitterTimeoutSecs: '20', splitterMemoryMb: 1024 } }),
      'us-west-2',
    );
    templateOf(stack).hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Handler: 'index.handler',
      Timeout: 20,
      MemorySize: 1024,
    });
  });

  it("points the splitter at the router's table, by name and region", () => {
    const stack = splitter(build(), 'us-west-2');
    const fn = Object.values(templateOf(stack).findResources('AWS::Lambda::Function'))[0];
    const env = fn?.Properties.Environment.Variables;
    expect(env[ENV.table]).toBe('switchyard-dev');
    expect(env[TABLE_REGION_ENV]).toBe('us-east-1');
    expect(JSON.parse(env[ENV.topology]).clusters).toHaveLength(2);
    expect(env[ENV.wsManagementEndpoint]).toBeUndefined();
  });

  describe('event sources', () => {
    it('subscribes to each source queue, imported by name, with partial batch failures', () => {
      const stack = splitter(build(), 'us-west-2');
      const mappings = Object.values(templateOf(stack).findResources('AWS::Lambda::EventSourceMapping'));
      expect(mappings).toHaveLength(1);
      const m = mappings[0]?.Properties;
      expect(text(stack, m.EventSourceArn)).toBe(sqsArn('us-west-2', 'west-orders'));
      expect(m.FunctionName).toEqual({ Ref: logicalId(stack, stack.splitter.fn) });
      expect(m.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
      expect(m.BatchSize).toBe(10);
      expect(m.MaximumBatchingWindowInSeconds).toBeUndefined();
      expect(m.ScalingConfig).toEqual({ MaximumConcurrency: 5 });
      // The user's queue is never created or changed by the stack.
      expect(
        Object.values(templateOf(stack).findResources('AWS::SQS::Queue')).map((q) => q.Properties.QueueName),
      ).toEqual(['switchyard-west-orders-fallback']);
    });

    it('takes batch size, batching window and max concurrency from context', () => {
      const stack = splitter(
        build({
          context: {
            splitterBatchSize: '50',
            splitterMaxBatchingWindowSecs: '2',
            splitterMaxConcurrency: '20',
          },
        }),
        'us-east-1',
      );
      templateOf(stack).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        BatchSize: 50,
        MaximumBatchingWindowInSeconds: 2,
        ScalingConfig: { MaximumConcurrency: 20 },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });

    it.each([
      [{ splitterBatchSize: 50 }, /needs a batching window/],
      [{ splitterBatchSize: 20, splitterMaxBatchingWindowSecs: 1 }, /eu-payments\.fifo.*FIFO/],
    ])('refuses event source settings SQS would reject: %o', (context, message) => {
      expect(() => build({ topology: MIXED, context })).toThrow(message);
    });

    it('subscribes to every queue of every cluster in the region, FIFO included', () => {
      const stack = splitter(build({ topology: MIXED }), 'eu-west-1');
      const arns = Object.values(templateOf(stack).findResources('AWS::Lambda::EventSourceMapping')).map(
        (m) => text(stack, m.Properties.EventSourceArn),
      );
      expect(arns.sort()).toEqual([
        sqsArn('eu-west-1', 'eu-orders'),
        sqsArn('eu-west-1', 'eu-payments.fifo'),
      ]);
    });
  });

  describe('fallback queues', () => {
    it('creates prefixed fallbacks: encrypted, TLS only, retained, FIFO when the source is', () => {
      const stack = splitter(build({ topology: MIXED }), 'eu-west-1');
      const t = templateOf(stack);
      const queues = t.findResources('AWS::SQS::Queue');
      const byName = Object.fromEntries(Object.values(queues).map((q) => [q.Properties.QueueName, q]));
      expect(Object.keys(byName).sort()).toEqual([
        'switchyard-eu-orders-fallback',
        'switchyard-eu-payments-fallback.fifo',
      ]);
      expect(byName['switchyard-eu-payments-fallback.fifo']?.Properties.FifoQueue).toBe(true);
      expect(byName['switchyard-eu-orders-fallback']?.Properties.FifoQueue).toBeUndefined();
      for (const q of Object.values(queues)) {
        expect(q.Properties.SqsManagedSseEnabled).toBe(true);
        expect(q.DeletionPolicy).toBe('Retain');
      }
      const policies = Object.values(t.findResources('AWS::SQS::QueuePolicy'));
      expect(policies).toHaveLength(2);
      for (const p of policies) {
        expect(p.Properties.PolicyDocument.Statement).toEqual([
          expect.objectContaining({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]);
      }
    });

    it('imports a fallback without the switchyard- prefix instead of creating it', () => {
      const stack = splitter(build({ topology: MIXED }), 'ap-southeast-2');
      templateOf(stack).resourceCountIs('AWS::SQS::Queue', 0);
      expect(text(stack, stack.fallbacks.get('ap-orders')?.queueArn)).toBe(
        sqsArn('ap-southeast-2', 'ap-orders-fallback'),
      );
    });

    it("copies the source queue's visibility timeout and redrives to its dead-letter queue", () => {
      const stack = splitter(
        build({
          context: {
            queueVisibilityTimeouts: { 'west-orders': 120 },
            deadLetterQueues: '{"west-orders":"west-orders-dlq"}',
          },
        }),
        'us-west-2',
      );
      const q = Object.values(templateOf(stack).findResources('AWS::SQS::Queue'))[0]?.Properties;
      expect(q.VisibilityTimeout).toBe(120);
      expect(q.RedrivePolicy.maxReceiveCount).toBe(5);
      expect(text(stack, q.RedrivePolicy.deadLetterTargetArn)).toBe(sqsArn('us-west-2', 'west-orders-dlq'));
    });
  });

  describe('least privilege', () => {
    it('reads the table, updates only split items, consumes its sources, sends only to owned queues', () => {
      const stack = splitter(build(), 'us-west-2');
      expect(statementsOfRole(stack, logicalId(stack, stack.splitter.role))).toEqual([
        {
          effect: 'Allow',
          actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          resources: [`<${logicalId(stack, stack.splitter.logGroup)}.Arn>`],
        },
        { effect: 'Allow', actions: STORE_READ_ACTIONS, resources: [tableArn('us-east-1')] },
        { effect: 'Allow', actions: ['dynamodb:Query'], resources: [tableArn('us-east-1', '/index/byKind')] },
        {
          effect: 'Allow',
          actions: ['dynamodb:UpdateItem'],
          resources: [tableArn('us-east-1')],
          condition: { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': SPLITTER_WRITABLE_KEYS } },
        },
        { effect: 'Allow', actions: CONSUME_ACTIONS, resources: [sqsArn('us-west-2', 'west-orders')] },
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          // Its own region's fallbacks, and output queues in the default cluster's region.
          resources: [sqsArn('us-west-2', 'switchyard-*'), sqsArn('us-east-1', 'switchyard-*')],
        },
      ]);
    });

    it('adds an imported fallback by its exact ARN and nothing wider', () => {
      const stack = splitter(build({ topology: MIXED }), 'ap-southeast-2');
      const send = statementsOfRole(stack, logicalId(stack, stack.splitter.role)).filter((s) =>
        s.actions.includes('sqs:SendMessage'),
      );
      expect(send).toEqual([
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            sqsArn('ap-southeast-2', 'switchyard-*'),
            sqsArn('eu-west-1', 'switchyard-*'),
            sqsArn('ap-southeast-2', 'ap-orders-fallback'),
          ],
        },
      ]);
    });

    it('has no service-wide action and no "*" resource in any stack', () => {
      const built = build({ topology: MIXED });
      for (const stack of [built.deployment.router, ...built.deployment.splitters.values()]) {
        const policies = templateOf(stack).findResources('AWS::IAM::Policy');
        expect(Object.keys(policies).length).toBeGreaterThan(0);
        for (const p of Object.values(policies)) {
          for (const s of p.Properties.PolicyDocument.Statement) {
            const actions: string[] = [s.Action].flat();
            const resources: unknown[] = [s.Resource].flat();
            expect(actions.filter((a) => a === '*' || a.endsWith(':*'))).toEqual([]);
            expect(resources.filter((r) => r === '*')).toEqual([]);
          }
        }
      }
    });
  });

  describe('visibility timeout', () => {
    it('refuses a source queue below 6x the splitter timeout, naming the queue, its timeout and the minimum', () => {
      const run = () =>
        build({
          context: {
            splitterTimeoutSecs: 30,
            queueVisibilityTimeouts: { 'west-orders': 120, 'east-orders': 180 },
          },
        });
      expect(run).toThrow(DeploymentConfigError);
      expect(run).toThrow(
        /'west-orders' \(cluster 'west', us-west-2\): visibility timeout 120 s, minimum 180 s/,
      );
      expect(run).not.toThrow(/'east-orders'/);
    });

    it('accepts exactly 6x and leaves unknown timeouts to the deployer', () => {
      expect(() =>
        build({ context: { splitterTimeoutSecs: 30, queueVisibilityTimeouts: { 'west-orders': 180 } } }),
      ).not.toThrow();
    });
  });

  describe('alarms', () => {
    it('watches splitter errors and throttles, source queue age and dead-letter depth', () => {
      const stack = splitter(
        build({
          context: { deadLetterQueues: { 'west-orders': 'west-orders-dlq' }, queueAgeAlarmSecs: 600 },
        }),
        'us-west-2',
      );
      const alarms = Object.values(templateOf(stack).findResources('AWS::CloudWatch::Alarm')).map(
        (a) => a.Properties,
      );
      const summary = alarms
        .map((a) => ({
          metric: `${a.Namespace}/${a.MetricName}`,
          dimensions: a.Dimensions.map(
            (d: { Name: string; Value: unknown }) => `${d.Name}=${text(stack, d.Value)}`,
          ),
          threshold: a.Threshold,
        }))
        .sort((a, b) => a.metric.localeCompare(b.metric));
      const fn = `FunctionName=<${logicalId(stack, stack.splitter.fn)}>`;
      expect(summary).toEqual([
        { metric: 'AWS/Lambda/Errors', dimensions: [fn], threshold: 1 },
        { metric: 'AWS/Lambda/Throttles', dimensions: [fn], threshold: 1 },
        {
          metric: 'AWS/SQS/ApproximateAgeOfOldestMessage',
          dimensions: ['QueueName=west-orders'],
          threshold: 600,
        },
        {
          metric: 'AWS/SQS/ApproximateNumberOfMessagesVisible',
          dimensions: ['QueueName=west-orders-dlq'],
          threshold: 1,
        },
      ]);
    });

    it('notifies the SNS topic of its own region', () => {
      const stack = splitter(build({ context: { alarmTopicName: 'ops-pager' } }), 'us-west-2');
      for (const a of Object.values(templateOf(stack).findResources('AWS::CloudWatch::Alarm'))) {
        expect(a.Properties.AlarmActions.map((x: unknown) => text(stack, x))).toEqual([
          `arn:<AWS::Partition>:sns:us-west-2:${ACCOUNT}:ops-pager`,
        ]);
      }
    });
  });

  it('refuses a source queue listed by two clusters of one region', () => {
    const twice = structuredClone(TWO_REGIONS);
    twice.clusters[1]!.region = 'us-east-1';
    twice.clusters[1]!.queues[0]!.source = 'east-orders';
    expect(() => build({ topology: twice })).toThrow(
      /'east-orders' in us-east-1 is listed by clusters 'east' and 'west'/,
    );
  });
});
