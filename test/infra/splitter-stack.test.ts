import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { TABLE_REGION_ENV } from '../../infra/constructs/function-environment.ts';
import { SEND_ACTIONS } from '../../infra/constructs/queue-access.ts';
import { SPLITTER_WRITABLE_KEYS, STORE_READ_ACTIONS } from '../../infra/constructs/state-table.ts';
import { DeploymentConfigError } from '../../infra/errors.ts';
import { QUEUE_IN_ANOTHER_ACCOUNT_WARNING, type SplitterStack } from '../../infra/splitter-stack.ts';
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

/** What every splitter role holds before its queues: its own log group and the router's table (us-east-1). */
const logAndTableStatements = (stack: SplitterStack) => [
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
];

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
    expect(env[ENV.account]).toBe(ACCOUNT);
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
        ...logAndTableStatements(stack),
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

  describe('queues in another account (context queueArns)', () => {
    const OWNER = '444455556666';
    const FALLBACK_OWNER = '777788889999';
    const EAST = `arn:aws:sqs:us-east-1:${OWNER}:east-orders`;
    const AP = `arn:aws:sqs:ap-southeast-2:${OWNER}:ap-orders`;
    const AP_FALLBACK = `arn:aws:sqs:ap-southeast-2:${FALLBACK_OWNER}:ap-orders-fallback`;
    const mappingArns = (stack: SplitterStack) =>
      Object.values(templateOf(stack).findResources('AWS::Lambda::EventSourceMapping')).map((m) =>
        text(stack, m.Properties.EventSourceArn),
      );
    const queueAlarms = (stack: SplitterStack) =>
      Object.values(templateOf(stack).findResources('AWS::CloudWatch::Alarm'))
        .filter((a) => a.Properties.Namespace === 'AWS/SQS')
        .map((a) => `${a.Properties.MetricName} ${a.Properties.Dimensions[0].Value}`)
        .sort();
    const accountWarnings = (stack: SplitterStack) =>
      Annotations.fromStack(stack)
        .findWarning('*', Match.stringLikeRegexp(QUEUE_IN_ANOTHER_ACCOUNT_WARNING))
        .map((w) => ({ path: w.id, message: String(w.entry.data) }));

    it('subscribes to a source queue of another account by its ARN, consuming and sending by exact ARNs', () => {
      const stack = splitter(
        build({
          topology: MIXED,
          context: { queueArns: { 'ap-orders': AP, 'ap-orders-fallback': AP_FALLBACK } },
        }),
        'ap-southeast-2',
      );
      expect(mappingArns(stack)).toEqual([AP]);
      expect(text(stack, stack.fallbacks.get('ap-orders')?.queueArn)).toBe(AP_FALLBACK);
      expect(statementsOfRole(stack, logicalId(stack, stack.splitter.role))).toEqual([
        ...logAndTableStatements(stack),
        { effect: 'Allow', actions: CONSUME_ACTIONS, resources: [AP] },
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          // Output queues stay in this account; the user's fallback is named by its own ARN.
          resources: [sqsArn('eu-west-1', 'switchyard-dev_*'), AP_FALLBACK],
        },
      ]);
      // The splitter looks the fallback's URL up in its owner's account.
      const fn = Object.values(templateOf(stack).findResources('AWS::Lambda::Function'))[0];
      expect(JSON.parse(fn?.Properties.Environment.Variables[ENV.queueArns])).toEqual({
        'ap-orders': AP,
        'ap-orders-fallback': AP_FALLBACK,
      });
    });

    it('keeps the queues without an entry in the stack account, and creates their prefixed fallbacks', () => {
      const built = build({ context: { queueArns: { 'east-orders': EAST } } });
      const east = splitter(built, 'us-east-1');
      expect(mappingArns(east)).toEqual([EAST]);
      expect(
        Object.values(templateOf(east).findResources('AWS::SQS::Queue')).map((q) => q.Properties.QueueName),
      ).toEqual(['switchyard-east-orders-fallback']);
      expect(
        statementsOfRole(east, logicalId(east, east.splitter.role)).filter((s) =>
          s.actions.some((a) => a.startsWith('sqs:')),
        ),
      ).toEqual([
        { effect: 'Allow', actions: CONSUME_ACTIONS, resources: [EAST] },
        {
          effect: 'Allow',
          actions: SEND_ACTIONS,
          resources: [
            sqsArn('us-east-1', 'switchyard-dev_*'),
            sqsArn('us-east-1', 'switchyard-east-orders-fallback'),
          ],
        },
      ]);
      // The source queue's account, where the cluster's consumer runs, may read the fallback.
      const allows = (stack: SplitterStack) =>
        Object.values(templateOf(stack).findResources('AWS::SQS::QueuePolicy')).flatMap((p) =>
          (
            p.Properties.PolicyDocument.Statement as {
              Effect: string;
              Principal: unknown;
              Action: string[];
            }[]
          )
            .filter((st) => st.Effect === 'Allow')
            .map((st) => ({
              principal: text(stack, (st.Principal as { AWS: unknown }).AWS),
              actions: [...st.Action].sort(),
            })),
        );
      expect(allows(east)).toEqual([
        {
          principal: `arn:<AWS::Partition>:iam::${OWNER}:root`,
          actions: [
            'sqs:ChangeMessageVisibility',
            'sqs:DeleteMessage',
            'sqs:GetQueueAttributes',
            'sqs:GetQueueUrl',
            'sqs:ReceiveMessage',
          ],
        },
      ]);
      const west = splitter(built, 'us-west-2');
      expect(mappingArns(west)).toEqual([sqsArn('us-west-2', 'west-orders')]);
      expect(queueAlarms(west)).toEqual(['ApproximateAgeOfOldestMessage west-orders']);
      expect(accountWarnings(west)).toEqual([]);
      // A fallback for a queue of the stack's own account is read with the stack account's IAM.
      expect(allows(west)).toEqual([]);
    });

    it('creates no queue alarm for a source queue of another account, and warns at synth instead', () => {
      const stack = splitter(
        build({
          topology: MIXED,
          context: { queueArns: { 'ap-orders': AP }, deadLetterQueues: { 'ap-orders': 'ap-orders-dlq' } },
        }),
        'ap-southeast-2',
      );
      expect(queueAlarms(stack)).toEqual([]);
      expect(accountWarnings(stack)).toEqual([
        {
          path: '/Switchyard-dev-Splitter-ap-southeast-2/Source-ap-orders',
          message: expect.stringContaining(
            `source queue ap-orders (cluster ap) is in account ${OWNER}, where SQS publishes its CloudWatch metrics: this stack creates no ApproximateAgeOfOldestMessage alarm for it and no depth alarm for its dead-letter queue ap-orders-dlq. Set the queue's alarms up in account ${OWNER}`,
          ),
        },
      ]);
      // The splitter's own alarms stay.
      expect(Object.keys(templateOf(stack).findResources('AWS::CloudWatch::Alarm'))).toHaveLength(2);
    });

    it("keeps the alarms of a queue whose ARN is in the stack's own account", () => {
      const stack = splitter(
        build({
          topology: MIXED,
          context: {
            queueArns: { 'ap-orders': `arn:aws:sqs:ap-southeast-2:${ACCOUNT}:ap-orders` },
            deadLetterQueues: { 'ap-orders': 'ap-orders-dlq' },
          },
        }),
        'ap-southeast-2',
      );
      expect(queueAlarms(stack)).toEqual([
        'ApproximateAgeOfOldestMessage ap-orders',
        'ApproximateNumberOfMessagesVisible ap-orders-dlq',
      ]);
      expect(accountWarnings(stack)).toEqual([]);
    });

    it('takes an ARN as another account when the stack has no account', () => {
      const stack = splitter(
        build({
          topology: MIXED,
          context: { queueArns: { 'ap-orders': `arn:aws:sqs:ap-southeast-2:${ACCOUNT}:ap-orders` } },
          accountAgnostic: true,
        }),
        'ap-southeast-2',
      );
      expect(mappingArns(stack)).toEqual([`arn:aws:sqs:ap-southeast-2:${ACCOUNT}:ap-orders`]);
      expect(queueAlarms(stack)).toEqual([]);
      expect(accountWarnings(stack)).toHaveLength(1);
    });

    it('refuses every entry that names no queue of the topology or the wrong queue, at once', () => {
      const run = () =>
        build({
          topology: MIXED,
          context: {
            queueArns: {
              'ap-order': AP,
              'ap-orders': `arn:aws:sqs:ap-southeast-2:${OWNER}:ap-orders-fallback`,
              'eu-orders': `arn:aws:sqs:eu-central-1:${OWNER}:eu-orders`,
              'switchyard-eu-orders-fallback': `arn:aws:sqs:eu-west-1:${OWNER}:switchyard-eu-orders-fallback`,
            },
          },
        });
      expect(run).toThrow(DeploymentConfigError);
      expect(run).toThrow(
        /^context "queueArns" names queues the stacks could not use:\n {2}- queue 'ap-order' is neither a source nor a fallback queue of the topology: fix the name \(the topology's queues: eu-orders, switchyard-eu-orders-fallback, .*\) or remove the entry\n {2}- queue 'ap-orders': the ARN names queue 'ap-orders-fallback': give the ARN of 'ap-orders' itself \(arn:aws:sqs:<region>:<account>:ap-orders\), or key the entry by the name the topology uses for that queue\n {2}- queue 'eu-orders' \(source queue, cluster 'eu', eu-west-1\): the ARN is in eu-central-1, but the cluster's queues are in eu-west-1, where its splitter reads and sends: give the ARN of the queue in eu-west-1, or fix the cluster's "region" in the topology\n {2}- queue 'switchyard-eu-orders-fallback' \(fallback of 'eu-orders', cluster 'eu', eu-west-1\) is created by the stack, in the account it deploys to: remove the entry, or create the fallback yourself in account 444455556666 under a name without the "switchyard-" prefix, name it as the fallback in the topology and give its ARN here \(the stack then imports it\)$/,
      );
    });

    it('refuses the ARN of a user-owned fallback in another region than its cluster', () => {
      expect(() =>
        build({
          topology: MIXED,
          context: {
            queueArns: { 'ap-orders-fallback': `arn:aws:sqs:eu-west-1:${OWNER}:ap-orders-fallback` },
          },
        }),
      ).toThrow(
        /queue 'ap-orders-fallback' \(fallback of 'ap-orders', cluster 'ap', ap-southeast-2\): the ARN is in eu-west-1, but the cluster's queues are in ap-southeast-2/,
      );
    });

    it('refuses a created fallback that would redrive to a dead-letter queue of another account', () => {
      const run = () =>
        build({
          context: {
            queueArns: { 'east-orders': EAST },
            deadLetterQueues: { 'east-orders': 'east-orders-dlq', 'west-orders': 'west-orders-dlq' },
          },
        });
      expect(run).toThrow(DeploymentConfigError);
      expect(run).toThrow(
        `source queue 'east-orders' (cluster 'east', us-east-1) is in account ${OWNER}, and so is its dead-letter queue 'east-orders-dlq', but the stack creates its fallback 'switchyard-east-orders-fallback' in the account it deploys to, and SQS redrives only within one account: create the fallback yourself in account ${OWNER}`,
      );
      expect(run).not.toThrow(/west-orders/);
      // A fallback of the user's own, in the queue's account, is fine.
      const own = structuredClone(TWO_REGIONS);
      own.clusters[0]!.queues[0]!.fallback = 'east-orders-fallback';
      const stack = splitter(
        build({
          topology: own,
          context: {
            queueArns: { 'east-orders': EAST, 'east-orders-fallback': `${EAST}-fallback` },
            deadLetterQueues: { 'east-orders': 'east-orders-dlq' },
          },
        }),
        'us-east-1',
      );
      templateOf(stack).resourceCountIs('AWS::SQS::Queue', 0);
      expect(text(stack, stack.fallbacks.get('east-orders')?.queueArn)).toBe(`${EAST}-fallback`);
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
