import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import { NAG_REASONS } from '../../infra/constructs/nag.ts';
import { build, MIXED, nagReport, TWO_REGIONS } from './fixtures.ts';

const REASONS = new Set<string>(Object.values(NAG_REASONS));

describe('cdk-nag AwsSolutionsChecks', () => {
  it.each([
    ['two regions, defaults', TWO_REGIONS, {}],
    [
      'management-only primary, FIFO, imported fallback, DLQs, alarm topic, prod',
      MIXED,
      {
        stage: 'prod',
        deadLetterQueues: { 'eu-orders': 'eu-orders-dlq' },
        queueVisibilityTimeouts: { 'eu-orders': 60 },
        alarmTopicName: 'ops',
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

  it('acknowledges the wildcard findings one resource at a time', () => {
    const report = nagReport(build({ nag: true }));
    const ids = report.pluginReports
      .flatMap((p) => p.suppressedViolations)
      .filter((s) => s.ruleName.startsWith('AwsSolutions-IAM5'))
      .map((s) => s.acknowledgedId);
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) {
      expect(id).toMatch(
        /^AwsSolutions::AwsSolutions-IAM5\[Resource::arn:.*(\/dev\/(POST|DELETE)\/@connections\/\*|:switchyard-\*)\]$/,
      );
    }
  });

  it('fails the synth on a finding nobody acknowledged', () => {
    const built = build({ nag: true });
    new Queue(built.deployment.router, 'Unreviewed', { enforceSSL: true });
    expect(() => built.app.synth()).toThrow(/AwsSolutions-SQS3/);
  });
});
