import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../infra/constructs/handler-function.ts';
import { parseDeployContext } from '../../infra/deploy-context.ts';
import { DeploymentConfigError } from '../../infra/errors.ts';
import { defineApp } from '../../infra/synthesize.ts';
import { TopologyError } from '../../shared/config/topology.ts';
import { TWO_REGIONS } from './fixtures.ts';

/** Runs infra/app.ts as the CDK CLI does: context in CDK_CONTEXT_JSON, output in CDK_OUTDIR. */
function synth(context: Record<string, unknown>, env: Record<string, string> = {}) {
  const outdir = mkdtempSync(join(tmpdir(), 'switchyard-synth-'));
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'infra/app.ts'], {
    cwd: PROJECT_ROOT,
    encoding: 'utf8',
    env: {
      ...process.env,
      CDK_OUTDIR: outdir,
      CDK_CONTEXT_JSON: JSON.stringify(context),
      CDK_DEFAULT_ACCOUNT: '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...env,
    },
  });
  return { ...run, outdir };
}

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'switchyard-config-')), 'switchyard.config.json');
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

describe('infra/app.ts', () => {
  it('refuses an invalid topology with its rule messages, exit 1 and no stack trace', () => {
    const config = configFile({
      clusters: [
        { id: 'a', roles: ['workload'] },
        { id: 'b', roles: ['workload'] },
      ],
    });
    const run = synth({ config });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('is not a valid topology');
    expect(run.stderr).toContain('[one-primary]');
    expect(run.stderr).toContain('[one-default]');
    expect(run.stderr).not.toMatch(/^\s+at /m);
    expect(readdirSync(run.outdir).filter((f) => f.endsWith('.template.json'))).toEqual([]);
  });

  it.each([
    [
      'a missing file',
      { config: '/nonexistent/switchyard.config.json' },
      TopologyError,
      /\[file\] cannot read/,
    ],
    ['a bad context value', { stage: 'Prod!' }, DeploymentConfigError, /context "stage"/],
    [
      'a short visibility timeout',
      { queueVisibilityTimeouts: { 'west-orders': 30 } },
      DeploymentConfigError,
      /'west-orders' .*visibility timeout 30 s, minimum 60 s/,
    ],
  ])('refuses %s with a named error (printed the same way)', (_what, context, type, message) => {
    const app = new App({ context: { config: configFile(TWO_REGIONS), ...context } });
    expect(() => defineApp(app)).toThrow(type);
    expect(() => defineApp(new App({ context: { config: configFile(TWO_REGIONS), ...context } }))).toThrow(
      message,
    );
  });

  it('synthesizes offline, without credentials, bundling one stack for real with esbuild', () => {
    const stack = 'Switchyard-dev-Router';
    // CDK's CloudFormation schema check is skipped here for time; `npm run synth` runs it.
    const run = synth(
      { config: configFile(TWO_REGIONS), 'aws:cdk:bundling-stacks': [stack] },
      { CDK_VALIDATION: 'false' },
    );
    expect(run.status).toBe(0);
    const templates = readdirSync(run.outdir).filter((f) => f.endsWith('.template.json'));
    expect(templates.sort()).toEqual([
      `${stack}.template.json`,
      'Switchyard-dev-Splitter-us-east-1.template.json',
      'Switchyard-dev-Splitter-us-west-2.template.json',
    ]);
    // Each function of the chosen stack gets its own bundle; the other stacks get placeholders.
    const template = JSON.parse(readFileSync(join(run.outdir, `${stack}.template.json`), 'utf8'));
    type Resource = {
      Type: string;
      Properties: {
        Handler?: string;
        Code: { S3Key: string };
        Environment: { Variables: Record<string, string> };
      };
    };
    const functions = Object.values(template.Resources as Record<string, Resource>).filter(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler',
    );
    const assets = Object.fromEntries(
      functions.map((f) => [
        f.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME,
        `asset.${String(f.Properties.Code.S3Key).replace(/\.zip$/, '')}`,
      ]),
    );
    expect(Object.keys(assets).sort()).toEqual(['switchyard-http', 'switchyard-reconciler', 'switchyard-ws']);
    expect(new Set(Object.values(assets)).size).toBe(3);
    // Lambda provides the AWS SDK; here the project's copy stands in for the runtime's.
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(run.outdir, 'node_modules'), 'dir');
    for (const [name, dir] of Object.entries(assets)) {
      const asset = join(run.outdir, dir as string);
      expect(readdirSync(asset).sort()).toEqual(['index.mjs', 'index.mjs.map']);
      const bundle = readFileSync(join(asset, 'index.mjs'), 'utf8');
      expect(bundle.startsWith("import { createRequire as __syCreateRequire } from 'node:module';")).toBe(
        true,
      );
      // Minified (long lines), with the AWS SDK left to the runtime's copy.
      expect(bundle.length / bundle.split('\n').length, name).toBeGreaterThan(1000);
      expect(bundle).toMatch(/from\s*["']@aws-sdk\/client-dynamodb["']/);
      // The ESM bundle loads and exports the handler, as Lambda's runtime imports it.
      const load = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          `const m = await import(${JSON.stringify(join(asset, 'index.mjs'))}); console.log(typeof m.handler);`,
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        },
      );
      expect(load.stderr, name).toBe('');
      expect(load.stdout.trim(), name).toBe('function');
    }
  }, 120_000);
});

describe('deploy context', () => {
  it('has defaults that need no flags', () => {
    expect(parseDeployContext({})).toEqual({
      stage: 'dev',
      config: 'switchyard.config.json',
      logLevel: 'INFO',
      logRetentionDays: 30,
      bundleAwsSdk: false,
      splitterTimeoutSecs: 10,
      splitterMemoryMb: 512,
      splitterBatchSize: 10,
      splitterMaxBatchingWindowSecs: 0,
      splitterMaxConcurrency: 5,
      queueArns: {},
      queueVisibilityTimeouts: {},
      deadLetterQueues: {},
      queueKmsKeys: {},
      queueAgeAlarmSecs: 300,
    });
  });

  it('takes -c strings: numbers coerced, maps as JSON text', () => {
    const ctx = parseDeployContext({
      splitterBatchSize: '25',
      bundleAwsSdk: 'true',
      queueVisibilityTimeouts: '{"orders.fifo":90}',
      deadLetterQueues: '{"orders.fifo":"orders-dlq.fifo"}',
      queueKmsKeys:
        '{"orders.fifo":"arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"}',
      queueArns: '{"orders.fifo":"arn:aws-us-gov:sqs:us-gov-west-1:444455556666:orders.fifo"}',
    });
    expect(ctx.splitterBatchSize).toBe(25);
    expect(ctx.bundleAwsSdk).toBe(true);
    expect(parseDeployContext({ bundleAwsSdk: 'false' }).bundleAwsSdk).toBe(false);
    expect(ctx.queueVisibilityTimeouts).toEqual({ 'orders.fifo': 90 });
    expect(ctx.deadLetterQueues).toEqual({ 'orders.fifo': 'orders-dlq.fifo' });
    expect(ctx.queueKmsKeys).toEqual({
      'orders.fifo': 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    expect(ctx.queueArns).toEqual({
      'orders.fifo': 'arn:aws-us-gov:sqs:us-gov-west-1:444455556666:orders.fifo',
    });
  });

  it.each([
    'arn:aws:sqs:us-east-1:4444:east-orders',
    'arn:aws:sns:us-east-1:444455556666:east-orders',
    'arn:aws:sqs:us-east-1:444455556666:',
    'https://sqs.us-east-1.amazonaws.com/444455556666/east-orders',
    'east-orders',
  ])('refuses queueArns value %s, which is no SQS queue ARN, naming the key and the shape', (arn) => {
    const run = () => parseDeployContext({ queueArns: { 'east-orders': arn } });
    expect(run).toThrow(DeploymentConfigError);
    expect(run).toThrow(
      'context "queueArns.east-orders": an SQS queue ARN (arn:aws:sqs:<region>:<12-digit account>:<queue name>)',
    );
  });

  it.each([
    [{ stage: 'Prod' }, 'stage'],
    [{ stage: 'dev_1' }, 'stage'],
    [{ logRetentionDays: 31 }, 'logRetentionDays'],
    [{ splitterMaxConcurrency: 1 }, 'splitterMaxConcurrency'],
    [{ queueVisibilityTimeouts: '{not json' }, 'JSON'],
    [{ account: '123' }, 'account'],
    [{ bundleAwsSdk: 'yes' }, 'bundleAwsSdk'],
  ])('names the key of a bad value: %o', (values, key) => {
    expect(() => parseDeployContext(values)).toThrow(DeploymentConfigError);
    expect(() => parseDeployContext(values)).toThrow(key);
  });
});
