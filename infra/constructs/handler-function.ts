import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AssetHashType, DockerImage, type Duration, RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { type PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { ENV } from '../../functions/lib/env.ts';
import { DeploymentConfigError } from '../errors.ts';
import { BUNDLE, SOURCE_MAP_NODE_OPTIONS } from './bundling.ts';
import { acknowledge, acknowledgeWildcardResource, NAG_REASONS, renderIntrinsic } from './nag.ts';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The handler files, relative to the project root: the same files the local runtime loads, so
 * what the tests exercise locally is what Lambda runs.
 */
export const HANDLER_ENTRIES = {
  http: 'functions/http/index.ts',
  ws: 'functions/ws/index.ts',
  splitter: 'functions/splitter/index.ts',
  reconciler: 'functions/reconciler/index.ts',
} as const;
export type HandlerName = keyof typeof HANDLER_ENTRIES;

/** Lambda rejects a function whose environment (names and values) exceeds 4 KB. */
const LAMBDA_ENV_LIMIT = 4 * 1024;
/** An unresolved token (an API id, a URL) is counted at this many bytes. */
const TOKEN_ALLOWANCE = 128;

export interface HandlerFunctionProps {
  handler: HandlerName;
  description: string;
  timeout: Duration;
  memorySize: number;
  environment: Record<string, string>;
  logRetention: RetentionDays;
  /** Put the AWS SDK in the bundle instead of using the Lambda runtime's (context `bundleAwsSdk`). */
  bundleAwsSdk?: boolean;
}

/** The script that builds one bundle (infra/bundle/build.ts), run by CDK at synth. */
const BUILD_SCRIPT = join(PROJECT_ROOT, 'infra/bundle/build.ts');

/**
 * One Lambda function for one handler file: Node 22 on arm64, bundled by the local esbuild (never
 * docker), its own log group with a retention, and its own role that may write only to that log
 * group until the stack grants more.
 */
export class HandlerFunction extends Construct {
  readonly fn: LambdaFunction;
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: HandlerFunctionProps) {
    super(scope, id);
    const environment = {
      ...props.environment,
      POWERTOOLS_SERVICE_NAME: `switchyard-${props.handler}`,
      NODE_OPTIONS: SOURCE_MAP_NODE_OPTIONS,
    };
    checkEnvironmentSize(props.handler, environment);

    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      // Logs are disposable once the stack is gone; the table and the queues are what is retained.
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `switchyard ${props.handler} function`,
    });
    // Instead of the AWSLambdaBasicExecutionRole managed policy, which may write to every log group.
    this.logGroup.grantWrite(this.role);

    this.fn = new LambdaFunction(this, 'Function', {
      code: bundledCode(props.handler, props.bundleAwsSdk ?? false),
      handler: `${BUNDLE.outfile.replace(/\.mjs$/, '')}.handler`,
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      environment,
    });
    acknowledge(this.fn, 'L1', NAG_REASONS.nodeRuntime);
  }

  /**
   * Adds a statement to the role. A statement whose resources hold wildcards names the reason
   * they are right, which acknowledges cdk-nag's IAM5 finding for exactly those resources.
   */
  allow(statement: PolicyStatement, wildcardReason?: string): void {
    this.role.addToPrincipalPolicy(statement);
    if (!wildcardReason) return;
    for (const arn of statement.resources) {
      if (renderIntrinsic(Stack.of(this).resolve(arn)).includes('*')) {
        acknowledgeWildcardResource(this.role, arn, wildcardReason);
      }
    }
  }
}

/**
 * The function's code: its handler file bundled by the locally installed esbuild with the options
 * of bundling.ts. The asset hash is the bundle's, so an unchanged bundle is not uploaded again.
 * When a synth skips bundling (`cdk synth --exclusively` of another stack, the template tests),
 * CDK skips this too and hashes nothing large.
 */
function bundledCode(handler: HandlerName, bundleAwsSdk: boolean): Code {
  const entry = HANDLER_ENTRIES[handler];
  const flags = bundleAwsSdk ? ['--bundle-aws-sdk'] : [];
  return Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling below always runs or throws. CDK requires an image here.
      image: DockerImage.fromRegistry('public.ecr.aws/sam/build-nodejs22.x'),
      // What local bundling runs. CDK also keys its per-synth asset cache on these options (it
      // cannot see into tryBundle), so they must differ between functions.
      command: ['node', '--import', 'tsx', 'infra/bundle/build.ts', entry, '/asset-output', ...flags],
      local: {
        tryBundle(outputDir) {
          const args = ['--import', 'tsx', BUILD_SCRIPT, entry, outputDir, ...flags];
          try {
            execFileSync(process.execPath, args, {
              cwd: PROJECT_ROOT,
              stdio: ['ignore', 'inherit', 'inherit'],
            });
          } catch {
            throw new DeploymentConfigError(
              `bundling the ${handler} function (${entry}) failed: esbuild's messages are above. Run "npm ci" if a dependency is missing.`,
            );
          }
          return true;
        },
      },
    },
  });
}

/** What makes each variable large, and how to make it smaller. */
const ENV_REMEDIES: Record<string, string> = {
  [ENV.topology]: 'the topology file: drop unused queues and clusters, or shorten ids and queue names',
  [ENV.queueArns]: 'context "queueArns": only fallback queues of other accounts need an entry',
  [ENV.settings]: 'context "settings": give only the settings that differ from the defaults',
};

function checkEnvironmentSize(handler: HandlerName, env: Record<string, string>): void {
  const sizes = Object.entries(env).map(
    ([k, v]) => [k, k.length + (Token.isUnresolved(v) ? TOKEN_ALLOWANCE : Buffer.byteLength(v))] as const,
  );
  const bytes = sizes.reduce((sum, [, n]) => sum + n, 0);
  if (bytes > LAMBDA_ENV_LIMIT) {
    const largest = [...sizes]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([k, n]) => `  - ${k}: ${n} bytes${ENV_REMEDIES[k] ? `, from ${ENV_REMEDIES[k]}` : ''}`);
    throw new DeploymentConfigError(
      `the ${handler} function's environment would be about ${bytes} bytes, above Lambda's 4 KB limit. The largest variables:\n${largest.join('\n')}`,
      { bytes },
    );
  }
}
