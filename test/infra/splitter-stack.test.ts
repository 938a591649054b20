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
    expect(env[ENV.stage]).toBe('dev');
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
    it("reads the table, updates only split items, consumes its sources, sends to its stage's output queues and its fallbacks", () => {
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
          // Output queues of this stage in the default cluster's region; its own region's fallback.
          resources: [
            sqsArn('us-east-1', 'switchyard-dev_*'),
            sqsArn('us-west-2', 'switchyard-west-orders-fallback'),
          ],
        },
      ]);
    });

    const sendStatements = (stack: SplitterStack) =>
      statementsOfRole(stack, logicalId(stack, stack.splitter.role)).filter((s) =>
        s.actions.includes('sqs:SendMessage'),
      );

    it('names created and imported fallbacks by exact ARN, and nothing wider than the output queues', () => {
      const built = build({ topology: MIXED, context: { stage: 'prod' } });
      expect(sendStatements(splitter(built, 'ap-southeast-2'))).toEqual([
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            sqsArn('eu-west-1', 'switchyard-prod_*'),
            sqsArn('ap-southeast-2', 'ap-orders-fallback'),
          ],
        },
      ]);
      expect(sendStatements(splitter(built, 'eu-west-1'))).toEqual([
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            sqsArn('eu-west-1', 'switchyard-prod_*'),
            sqsArn('eu-west-1', 'switchyard-eu-orders-fallback'),
            sqsArn('eu-west-1', 'switchyard-eu-payments-fallback.fifo'),
          ],
        },
      ]);
    });

    it('gives two stages in one account disjoint output queue scopes', () => {
      const scope = (stage: string) =>
        sendStatements(splitter(build({ context: { stage } }), 'us-west-2')).flatMap((s) =>
          s.resources.filter((r) => r.includes('*')),
        );
      expect(scope('dev')).toEqual([sqsArn('us-east-1', 'switchyard-dev_*')]);
      expect(scope('dev-2')).toEqual([sqsArn('us-east-1', 'switchyard-dev-2_*')]);
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

  describe('KMS-encrypted queues (context queueKmsKeys)', () => {
    const key = (region: string, id: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/${id}`;
    const EU_KEY = key('eu-west-1', '11111111-2222-3333-4444-555555555555');
    const AP_KEY = key('ap-southeast-2', 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee');
    const AP_FALLBACK_KEY = key('ap-southeast-2', 'mrk-0123456789abcdef0123456789abcdef');
    const kmsStatements = (stack: SplitterStack) =>
      statementsOfRole(stack, logicalId(stack, stack.splitter.role)).filter((s) =>
        s.actions.some((a) => a.startsWith('kms:')),
      );

    it("decrypts with each source queue's key and sends with the user's fallback key, by exact ARN", () => {
      const built = build({
        topology: MIXED,
        context: {
          queueKmsKeys: JSON.stringify({
            'eu-orders': EU_KEY,
            'ap-orders': AP_KEY,
            'ap-orders-fallback': AP_FALLBACK_KEY,
          }),
        },
      });
      expect(kmsStatements(splitter(built, 'eu-west-1'))).toEqual([
        { effect: 'Allow', actions: ['kms:Decrypt'], resources: [EU_KEY] },
      ]);
      expect(kmsStatements(splitter(built, 'ap-southeast-2'))).toEqual([
        { effect: 'Allow', actions: ['kms:Decrypt'], resources: [AP_KEY] },
        { effect: 'Allow', actions: ['kms:GenerateDataKey', 'kms:Decrypt'], resources: [AP_FALLBACK_KEY] },
      ]);
    });

    it('names a key shared by two source queues once', () => {
      const stack = splitter(
        build({
          topology: MIXED,
          context: { queueKmsKeys: { 'eu-orders': EU_KEY, 'eu-payments.fifo': EU_KEY } },
        }),
        'eu-west-1',
      );
      expect(kmsStatements(stack)).toEqual([
        { effect: 'Allow', actions: ['kms:Decrypt'], resources: [EU_KEY] },
      ]);
    });

    it('grants a key given by alias ARN through the kms:ResourceAliases condition', () => {
      const alias = `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/orders`;
      const stack = splitter(
        build({ topology: MIXED, context: { queueKmsKeys: { 'eu-orders': alias } } }),
        'eu-west-1',
      );
      expect(kmsStatements(stack)).toEqual([
        {
          effect: 'Allow',
          actions: ['kms:Decrypt'],
          resources: [`arn:aws:kms:eu-west-1:${ACCOUNT}:key/*`],
          condition: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/orders' } },
        },
      ]);
    });

    it('has no KMS statement without encrypted queues', () => {
      const built = build({ topology: MIXED });
      for (const stack of built.deployment.splitters.values()) expect(kmsStatements(stack)).toEqual([]);
    });

    it('refuses a key in another region than its queue, naming the queue, the regions and the fix', () => {
      const run = () =>
        build({ topology: MIXED, context: { queueKmsKeys: { 'ap-orders-fallback': EU_KEY } } });
      expect(run).toThrow(DeploymentConfigError);
      expect(run).toThrow(
        /queue 'ap-orders-fallback' \(fallback of 'ap-orders', cluster 'ap', ap-southeast-2\): the key is in eu-west-1, .*own region: give the ARN of the key the queue uses/,
      );
    });

    it('refuses a queue name the topology does not hold (a typo), listing every problem at once', () => {
      const run = () =>
        build({
          topology: MIXED,
          context: { queueKmsKeys: { 'eu-order': EU_KEY, 'ap-orders': EU_KEY } },
        });
      expect(run).toThrow(
        /queue 'eu-order' is neither a source nor a fallback queue of the topology: fix the name \(the topology's queues: eu-orders, switchyard-eu-orders-fallback, .*\) or remove the entry/,
      );
      expect(run).toThrow(
        /queue 'ap-orders' \(source queue, cluster 'ap', ap-southeast-2\): the key is in eu-west-1/,
      );
    });

    it('refuses a key for a fallback the stack creates, and the AWS managed key', () => {
      expect(() =>
        build({ topology: MIXED, context: { queueKmsKeys: { 'switchyard-eu-orders-fallback': EU_KEY } } }),
      ).toThrow(/is created by the stack with SQS-managed encryption and needs no key: remove the entry/);
      expect(() =>
        build({
          topology: MIXED,
          context: { queueKmsKeys: { 'eu-orders': `arn:aws:kms:eu-west-1:${ACCOUNT}:alias/aws/sqs` } },
        }),
      ).toThrow(/alias\/aws\/sqs is an AWS managed key.*remove the entry/);
    });

    it.each([
      'arn:aws:kms:eu-west-1:123:key/abc',
      'arn:aws:sqs:eu-west-1:123456789012:eu-orders',
      '11111111-2222-3333-4444-555555555555',
      'alias/orders',
    ])('refuses %s, which is no KMS key or alias ARN', (arn) => {
      expect(() => build({ topology: MIXED, context: { queueKmsKeys: { 'eu-orders': arn } } })).toThrow(
        /context "queueKmsKeys\.eu-orders": a KMS key ARN/,
      );
    });
  });

  it('refuses to create a fallback named like an output queue of some stage', () => {
    const clash = structuredClone(TWO_REGIONS);
    clash.clusters[1]!.queues[0]!.fallback = 'switchyard-prod_west-orders';
    expect(() => build({ topology: clash })).toThrow(
      /fallback 'switchyard-prod_west-orders' of 'west-orders' \(cluster 'west', us-west-2\)[\s\S]*rename the fallback without "_"/,
    );
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
