import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { renderIntrinsic } from '../../infra/constructs/nag.ts';
import { parseDeployContext } from '../../infra/deploy-context.ts';
import { buildDeployment, type Deployment } from '../../infra/deployment.ts';
import { parseTopology } from '../../shared/config/topology.ts';

export const ACCOUNT = '123456789012';

/** Two clusters in two regions, as in the sample switchyard.config.json. */
export const TWO_REGIONS = {
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
      queues: [{ name: 'orders', source: 'west-orders', fallback: 'switchyard-west-orders-fallback' }],
    },
  ],
};

/**
 * A management-only primary, the default cluster in eu-west-1 (so output queues live apart from
 * the router), a FIFO pair, and a fallback the user owns (no `switchyard-` prefix).
 */
export const MIXED = {
  region: 'us-east-1',
  managementOnly: true,
  clusters: [
    { id: 'mgmt', roles: ['primary'] },
    {
      id: 'eu',
      roles: ['workload', 'default'],
      region: 'eu-west-1',
      queues: [
        { name: 'orders', source: 'eu-orders', fallback: 'switchyard-eu-orders-fallback' },
        { name: 'payments', source: 'eu-payments.fifo', fallback: 'switchyard-eu-payments-fallback.fifo' },
      ],
    },
    {
      id: 'ap',
      roles: ['workload'],
      region: 'ap-southeast-2',
      queues: [{ name: 'orders', source: 'ap-orders', fallback: 'ap-orders-fallback' }],
    },
  ],
};

export interface Built {
  app: App;
  deployment: Deployment;
}

/**
 * Builds every stack with bundling skipped (the tests read templates, not bundles). With `nag`,
 * synth also runs cdk-nag. CDK's built-in CloudFormation schema check is off here (it costs
 * seconds per app); `npm run synth` runs it. The stacks are in ACCOUNT unless `accountAgnostic`
 * (no context `account`, no CDK_DEFAULT_ACCOUNT).
 */
export function build(
  opts: {
    topology?: unknown;
    context?: Record<string, unknown>;
    nag?: boolean;
    accountAgnostic?: boolean;
  } = {},
): Built {
  const app = new App({
    context: { 'aws:cdk:bundling-stacks': [] },
    outdir: mkdtempSync(join(tmpdir(), 'switchyard-cdk-')),
    builtinCloudFormationValidation: false,
    stackTraces: opts.nag ?? false,
  });
  const ctx = parseDeployContext(opts.context ?? {});
  const topology = parseTopology(opts.topology ?? TWO_REGIONS);
  const deployment = buildDeployment(app, {
    topology,
    ctx,
    defaultAccount: opts.accountAgnostic ? undefined : ACCOUNT,
  });
  if (opts.nag) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { app, deployment };
}

export const templateOf = (stack: Stack): Template => Template.fromStack(stack);

/** A CloudFormation value rendered as text, e.g. `arn:<AWS::Partition>:sqs:us-east-1:123456789012:q`. */
export const text = (stack: Stack, value: unknown): string => renderIntrinsic(stack.resolve(value));

export interface Statement {
  effect: string;
  actions: string[];
  resources: string[];
  condition?: unknown;
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** The statements of every IAM policy attached to a role, rendered for exact comparison. */
export function statementsOfRole(stack: Stack, roleLogicalId: string): Statement[] {
  const policies = templateOf(stack).findResources('AWS::IAM::Policy');
  return Object.values(policies)
    .filter((p) => list(p.Properties.Roles).some((r: { Ref?: string }) => r.Ref === roleLogicalId))
    .flatMap((p) => p.Properties.PolicyDocument.Statement as Record<string, unknown>[])
    .map((s) => ({
      effect: s.Effect as string,
      actions: list(s.Action as string | string[]),
      resources: list(s.Resource).map((r) => renderIntrinsic(r)),
      ...(s.Condition ? { condition: s.Condition } : {}),
    }));
}

export const logicalId = (stack: Stack, construct: { node: { defaultChild?: unknown } }): string =>
  stack.resolve((stack as Stack).getLogicalId(construct.node.defaultChild as never)) as string;

interface ValidationReport {
  pluginReports: {
    pluginName: string;
    violations: { ruleName: string; severity: string; violatingConstructs: { constructPath: string }[] }[];
    suppressedViolations: { ruleName: string; acknowledgedId: string; reason: string }[];
  }[];
}

/** Synthesizes with cdk-nag and returns its report (synth throws if an error is not acknowledged). */
export function nagReport(built: Built): ValidationReport {
  const assembly = built.app.synth();
  return JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8'));
}
