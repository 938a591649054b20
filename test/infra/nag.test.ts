import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { NAG_REASONS } from '../../infra/constructs/nag.ts';
import { build, MIXED, nagReport, TWO_REGIONS } from './fixtures.ts';

const REASONS = new Set<string>(Object.values(NAG_REASONS));
/** The report carries the constructs a suppressed finding is about; its type leaves them out. */
type Suppressed = { violatingConstructs: { constructPath: string }[] };

describe('cdk-nag AwsSolutionsChecks', () => {
  it.each([
    ['two regions, defaults', TWO_REGIONS, {}],
    [
      'management-only primary, FIFO, imported fallback, DLQs, alarm topic, prod, queues in another account',
      MIXED,
      {
        stage: 'prod',
        queueArns: {
          'ap-orders': 'arn:aws:sqs:ap-southeast-2:444455556666:ap-orders',
          'ap-orders-fallback': 'arn:aws:sqs:ap-southeast-2:444455556666:ap-orders-fallback',
        },
        deadLetterQueues: { 'eu-orders': 'eu-orders-dlq' },
        queueVisibilityTimeouts: { 'eu-orders': 60 },
        alarmTopicName: 'ops',
        queueKmsKeys: {
          'eu-orders': 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555',
          'ap-orders': 'arn:aws:kms:ap-southeast-2:123456789012:alias/orders',
          'ap-orders-fallback':
            'arn:aws:kms:ap-southeast-2:123456789012:key/mrk-0123456789abcdef0123456789abcdef',
        },
      },
    ],
  ])(
    '%s: no unacknowledged finding of any severity, every acknowledgment with its reason',
    (_name, topology, context) => {
      const report = nagReport(build({ topology, context, nag: true }));
      // CDK's own CloudFormation schema validation reports here too, when it finds something.
      for (const plugin of report.pluginReports) expect(plugin.violations).toEqual([]);
      const nag = report.pluginReports.find((p) => p.pluginName === 'AwsSolutions');
      expect(nag).toBeDefined();
      const suppressed = nag?.suppressedViolations ?? [];
      expect(new Set(suppressed.map((s) => s.ruleName.replace(/\[.*\]$/, '')))).toEqual(
        new Set(['AwsSolutions-APIG4', 'AwsSolutions-IAM5', 'AwsSolutions-L1', 'AwsSolutions-SQS3']),
      );
      for (const s of suppressed) expect(REASONS).toContain(s.reason);
    },
  );

  it('acknowledges the wildcard findings one resource at a time: connections, output queues, KMS aliases', () => {
    const report = nagReport(
      build({
        topology: MIXED,
        context: {
          queueKmsKeys: { 'ap-orders-fallback': 'arn:aws:kms:ap-southeast-2:123456789012:alias/orders' },
        },
        nag: true,
      }),
    );
    const suppressed = report.pluginReports
      .flatMap((p) => p.suppressedViolations)
      .filter((s) => s.ruleName.startsWith('AwsSolutions-IAM5'));
    const ids = new Set(
      suppressed.map((s) => s.acknowledgedId.replace(/^AwsSolutions::AwsSolutions-IAM5/, '')),
    );
    const arn = (service: string, region: string, resource: string) =>
      `[Resource::arn:<AWS::Partition>:${service}:${region}:123456789012:${resource}]`;
    expect(ids).toEqual(
      new Set([
        ...['POST', 'DELETE'].map((m) =>
          expect.stringMatching(
            new RegExp(`^\\[Resource::arn:.*:execute-api:.*/dev/${m}/@connections/\\*\\]$`),
          ),
        ),
        arn('sqs', 'eu-west-1', 'switchyard-dev_*'),
        '[Resource::arn:aws:kms:ap-southeast-2:123456789012:key/*]',
      ]),
    );
    const reasons = new Map(suppressed.map((s) => [s.acknowledgedId, s.reason]));
    expect(reasons.get(`AwsSolutions::AwsSolutions-IAM5${arn('sqs', 'eu-west-1', 'switchyard-dev_*')}`)).toBe(
      NAG_REASONS.outputQueuesWildcard,
    );
    expect(
      reasons.get('AwsSolutions::AwsSolutions-IAM5[Resource::arn:aws:kms:ap-southeast-2:123456789012:key/*]'),
    ).toBe(NAG_REASONS.kmsAliasKeys);
  });

  it('finds $connect authorized: APIG4 is acknowledged on $disconnect, $default and the HTTP API only', () => {
    const report = nagReport(build({ nag: true }));
    const apig4 = report.pluginReports
      .flatMap((p) => p.suppressedViolations)
      .filter((s) => s.ruleName === 'AwsSolutions-APIG4');
    expect(
      new Set(
        apig4.flatMap((s) => (s as unknown as Suppressed).violatingConstructs.map((c) => c.constructPath)),
      ),
    ).toEqual(
      new Set([
        'Switchyard-dev-Router/WebSocketApi/$disconnect-Route/Resource',
        'Switchyard-dev-Router/WebSocketApi/$default-Route/Resource',
        'Switchyard-dev-Router/HttpApi/DefaultRoute/Resource',
      ]),
    );
    for (const s of apig4) expect(s.reason).toBe(NAG_REASONS.routeAuthorization);
  });

  it('fails the synth on a finding nobody acknowledged', () => {
    const built = build({ nag: true });
    new Queue(built.deployment.router, 'Unreviewed', { enforceSSL: true });
    expect(() => built.app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});
