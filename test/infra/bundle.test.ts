import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { esbuildOptions } from '../../infra/constructs/bundling.ts';
import { HANDLER_ENTRIES, type HandlerName, PROJECT_ROOT } from '../../infra/constructs/handler-function.ts';
import { localSqsClient } from '../helpers/fauxqs.ts';
import { startTestRuntime, TEST_TOPOLOGY, type TestRuntime } from '../helpers/local-runtime.ts';
import { build as buildStacks, templateOf } from './fixtures.ts';

/**
 * The bundles the stack deploys, built with the stack's own options: what they weigh, what they
 * hold, and that they run. Built under node_modules so that a bundle leaving the AWS SDK to the
 * runtime finds the project's copy, as it finds the runtime's on Lambda.
 */
const OUT = join(PROJECT_ROOT, 'node_modules/.cache/switchyard-bundle-test');
const GOAL_BYTES = 500 * 1024;
const NAMES = Object.keys(HANDLER_ENTRIES) as HandlerName[];
/**
 * The AWS SDK packages the functions may leave to the Lambda runtime: all of them are in the
 * nodejs22.x runtime's SDK. A new import outside this list must be checked against the runtime
 * before it is added here.
 */
const RUNTIME_SDK = [
  '@aws-sdk/client-apigatewaymanagementapi',
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/client-sqs',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/util-dynamodb',
];

interface Built {
  file: string;
  bytes: number;
  metafile: Metafile;
}

async function bundle(name: HandlerName, bundleAwsSdk: boolean): Promise<Built> {
  const outdir = join(OUT, `${name}-${bundleAwsSdk ? 'sdk' : 'runtime-sdk'}`);
  const result = await build(
    esbuildOptions({ entry: join(PROJECT_ROOT, HANDLER_ENTRIES[name]), outdir, bundleAwsSdk }),
  );
  const [file, output] = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('.mjs'))!;
  return { file: join(PROJECT_ROOT, file), bytes: output.bytes, metafile: result.metafile };
}

const inputs = (b: Built) => Object.keys(b.metafile.inputs);
const externalImports = (b: Built) =>
  Object.values(b.metafile.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path));

const deployed = new Map<HandlerName, Built>();
const withSdk = new Map<HandlerName, Built>();
beforeAll(async () => {
  rmSync(OUT, { recursive: true, force: true });
  for (const name of NAMES) {
    deployed.set(name, await bundle(name, false));
    withSdk.set(name, await bundle(name, true));
  }
}, 120_000);

describe('function bundles (default: the Lambda runtime provides the AWS SDK)', () => {
  it.each(NAMES)('%s: at most 500 KB minified', (name) => {
    expect(deployed.get(name)!.bytes).toBeLessThanOrEqual(GOAL_BYTES);
  });

  it.each(NAMES)('%s: the AWS SDK is imported from the runtime, nothing else is', (name) => {
    const b = deployed.get(name)!;
    expect(inputs(b).filter((i) => i.includes('node_modules/@aws-sdk/'))).toEqual([]);
    const external = externalImports(b);
    expect(external.filter((p) => !p.startsWith('node:')).every((p) => RUNTIME_SDK.includes(p))).toBe(true);
    expect(external).toContain('@aws-sdk/client-dynamodb');
  });

  it.each(NAMES)('%s: zod keeps its English messages and drops the other locales', (name) => {
    const locales = inputs(deployed.get(name)!).filter((i) => i.includes('node_modules/zod/v4/locales/'));
    expect(locales).toEqual(['node_modules/zod/v4/locales/en.js']);
  });

  it.each(NAMES)('%s: with context bundleAwsSdk=true the SDK is inside and nothing is imported', (name) => {
    const b = withSdk.get(name)!;
    expect(inputs(b).some((i) => i.includes('node_modules/@aws-sdk/client-dynamodb/'))).toBe(true);
    expect(externalImports(b).filter((p) => !p.startsWith('node:'))).toEqual([]);
    expect(b.bytes).toBeGreaterThan(deployed.get(name)!.bytes);
  });
});

/**
 * Runs a built bundle's handler in a fresh Node process on the given events, with the function
 * environment pointing at the local runtime's DynamoDB and SQS, and returns what it returned.
 */
async function invoke(built: Built, env: Record<string, string>, events: unknown[]): Promise<unknown[]> {
  const dir = join(OUT, 'invoke');
  mkdirSync(dir, { recursive: true });
  const events_ = join(dir, `events-${Date.now()}.json`);
  writeFileSync(events_, JSON.stringify(events));
  const script = `
    import { readFileSync } from 'node:fs';
    const { handler } = await import(${JSON.stringify(built.file)});
    const out = [];
    for (const e of JSON.parse(readFileSync(${JSON.stringify(events_)}, 'utf8'))) {
      out.push(await handler(e, { awsRequestId: 'test', functionName: 'bundle-test', getRemainingTimeInMillis: () => 10000 }));
    }
    process.stdout.write(JSON.stringify(out));
    process.exit(0);`;
  // Asynchronous: the local runtime serving DynamoDB and SQS runs in this very process.
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--enable-source-maps', '--input-type=module', '-e', script],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '', ...env },
      timeout: 30_000,
    },
  );
  return JSON.parse(stdout) as unknown[];
}

function httpEvent(method: string, path: string, opts: { token?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { host: 'api.example.com' };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: path,
    rawQueryString: '',
    headers,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'bundle-test' },
      requestId: 'r1',
      routeKey: '$default',
      stage: '$default',
      time: '22/Nov/2026:00:00:00 +0000',
      timeEpoch: 0,
    },
    isBase64Encoded: false,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  };
}

/**
 * The environment a function gets in the synthesized template, with what only exists once deployed
 * (the table's name, the WebSocket callback URL) replaced by the local runtime's, plus the local
 * endpoints and credentials Lambda would provide.
 */
function deployedEnvironment(runtime: TestRuntime, handler: HandlerName): Record<string, string> {
  const { deployment } = buildStacks({ topology: TEST_TOPOLOGY });
  const stack = handler === 'splitter' ? deployment.splitters.get(runtime.region)! : deployment.router;
  const fn = Object.values(templateOf(stack).findResources('AWS::Lambda::Function')).find(
    (f) => f.Properties.Environment?.Variables?.POWERTOOLS_SERVICE_NAME === `switchyard-${handler}`,
  );
  const variables = fn!.Properties.Environment.Variables as Record<string, unknown>;
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(variables)) {
    if (name === ENV.table) env[name] = runtime.tableName;
    else if (name === ENV.wsManagementEndpoint) env[name] = runtime.managementEndpoint;
    else if (name === 'NODE_OPTIONS')
      continue; // --enable-source-maps: invoke() passes it
    else if (typeof value === 'string') env[name] = value;
    else throw new Error(`${handler}: environment variable ${name} is not a plain value in the template`);
  }
  return {
    ...env,
    [ENV.dynamodbEndpoint]: runtime.dynamodbEndpoint,
    [ENV.sqsEndpoint]: runtime.sqsEndpoint,
    AWS_REGION: runtime.region,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    POWERTOOLS_LOG_LEVEL: 'ERROR',
  };
}

describe('the built bundles run, with the environment the stack gives them', () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await startTestRuntime();
  }, 60_000);
  afterAll(async () => {
    await runtime?.stop();
  });

  it('http: health, the OpenAPI document, auth, the table and zod validation in English', async () => {
    type Res = { statusCode: number; body: string };
    const env = deployedEnvironment(runtime, 'http');
    const [health, openapi, anonymous, clusters, invalid] = (await invoke(deployed.get('http')!, env, [
      httpEvent('GET', '/healthz'),
      httpEvent('GET', '/openapi.json'),
      httpEvent('GET', '/v1/clusters'),
      httpEvent('GET', '/v1/clusters', { token: runtime.developerToken }),
      httpEvent('POST', '/v1/sessions', { token: runtime.developerToken, body: { clusters: 7 } }),
    ])) as Res[];
    expect(health).toMatchObject({ statusCode: 200 });
    expect(JSON.parse(openapi!.body).paths['/v1/sessions']).toBeDefined();
    expect(anonymous!.statusCode).toBe(401);
    expect(JSON.parse(clusters!.body).clusters.map((c: { id: string }) => c.id)).toEqual(['east', 'west']);
    expect(invalid!.statusCode).toBe(400);
    // zod's English message, which the bundle keeps while it drops the other locales.
    expect(JSON.parse(invalid!.body).error.message).toContain('Unrecognized key: "clusters"');
  });

  it('ws: a connector connects with its cluster token and disconnects; no token is refused', async () => {
    const event = (routeKey: string, headers: Record<string, string>) => ({
      headers,
      queryStringParameters: { cluster: 'east' },
      requestContext: {
        routeKey,
        eventType: routeKey === '$connect' ? 'CONNECT' : 'DISCONNECT',
        connectionId: 'bundle-test-conn',
        apiId: 'ws',
        domainName: 'ws.example.com',
        stage: 'live',
        requestId: 'r1',
        connectedAt: 0,
        requestTimeEpoch: 0,
        messageDirection: 'IN',
        extendedRequestId: 'e1',
        messageId: null,
        requestTime: '',
      },
      isBase64Encoded: false,
    });
    const [anonymous, connected, disconnected] = (await invoke(
      deployed.get('ws')!,
      deployedEnvironment(runtime, 'ws'),
      [
        event('$connect', {}),
        event('$connect', { Authorization: `Bearer ${runtime.clusterTokens.east}` }),
        event('$disconnect', {}),
      ],
    )) as { statusCode: number }[];
    expect(anonymous!.statusCode).toBe(401);
    expect(connected!.statusCode).toBe(200);
    expect(disconnected!.statusCode).toBe(200);
  });

  it('reconciler: a scheduled run completes without a failed duty', async () => {
    const [report] = (await invoke(deployed.get('reconciler')!, deployedEnvironment(runtime, 'reconciler'), [
      {},
    ])) as { leader: boolean; failed: string[] }[];
    expect(typeof report!.leader).toBe('boolean');
    expect(report!.failed).toEqual([]);
  });

  it('splitter: with no session splitting, a batch goes to the fallback queue', async () => {
    const source = runtime.queues.find((q) => q.clusterId === 'east' && q.role === 'source')!;
    const fallback = runtime.queues.find((q) => q.clusterId === 'east' && q.role === 'fallback')!;
    const record = (id: string) => ({
      messageId: id,
      receiptHandle: `rh-${id}`,
      body: JSON.stringify({ order: id }),
      attributes: {
        ApproximateReceiveCount: '1',
        SentTimestamp: String(Date.now()),
        SenderId: '000000000000',
        ApproximateFirstReceiveTimestamp: String(Date.now()),
      },
      messageAttributes: {
        tenant: { stringValue: 'acme', stringListValues: [], binaryListValues: [], dataType: 'String' },
      },
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: source.arn,
      awsRegion: source.region,
    });
    const env = deployedEnvironment(runtime, 'splitter');
    expect(env[ENV.wsManagementEndpoint]).toBeUndefined();
    const [result] = await invoke(deployed.get('splitter')!, env, [
      { Records: [record('bundle-1'), record('bundle-2')] },
    ]);
    expect(result).toEqual({ batchItemFailures: [] });

    const sqs = localSqsClient(runtime.sqsEndpoint, fallback.region);
    const got: string[] = [];
    for (let i = 0; i < 5 && got.length < 2; i++) {
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: fallback.url, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      got.push(...(r.Messages ?? []).map((m) => m.Body!));
    }
    sqs.destroy();
    expect(got.sort()).toEqual([
      JSON.stringify({ order: 'bundle-1' }),
      JSON.stringify({ order: 'bundle-2' }),
    ]);
  });
});
