import { type ChildProcess, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { collectDatabases } from '../../connector/branches/config.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { type ConnectorConfig, parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { eventually, type TestRuntime } from '../helpers/local-runtime.ts';

export const BIN = join(import.meta.dirname, '..', '..', 'bin', 'switchyard.js');

export interface TestCluster {
  id: string;
  upstream: Server;
  connector: Connector;
  config: ConnectorConfig;
  ingressUrl: string;
  restart(): Promise<void>;
}

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server that answers `<name> <method> <path> <x-dev header>`. */
export function namedServer(name: string): Server {
  return createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      res.setHeader('x-served-by', name);
      res.end(`${name} ${req.method} ${req.url}${body ? ` body=${body}` : ''}`);
    });
  });
}

export async function startCluster(
  runtime: TestRuntime,
  id: string,
  extra: Partial<Record<string, unknown>> = {},
  databases: unknown[] = [],
): Promise<TestCluster> {
  const upstream = namedServer(`upstream-${id}`);
  const upstreamPort = await listen(upstream);
  const config = parseConnectorConfig({
    services: [
      {
        name: 'api',
        ingress: { port: 0, host: '127.0.0.1' },
        upstream: `http://127.0.0.1:${upstreamPort}`,
        env: { CLUSTER_NAME: id, GREETING: `hello from ${id}` },
        // Only the default cluster (east) exposes files, so a read that succeeds was answered there.
        files: id === 'east' ? [join(import.meta.dirname)] : [],
        databases,
      },
    ],
    outgoing: { allow: ['127.0.0.1:*', 'localhost:*'] },
    requestDeadlineMs: 2_000,
    ...extra,
  });
  const make = () =>
    new Connector({
      router: runtime.wsUrl,
      cluster: id,
      token: runtime.clusterTokens[id]!,
      config,
      // Branching, when the cluster declares databases (as `switchyard connector` does).
      extensions: databases.length ? [branchExtension({ databases: collectDatabases(config.services) })] : [],
      log: process.env.SWITCHYARD_TEST_LOG ? undefined : () => {},
    });
  const cluster: TestCluster = {
    id,
    upstream,
    config,
    connector: make(),
    ingressUrl: '',
    async restart() {
      await cluster.connector.stop();
      // The same ingress port, so clients keep their URL.
      config.services[0]!.ingress.port = Number(new URL(cluster.ingressUrl).port);
      cluster.connector = make();
      await cluster.connector.start();
      await waitConnected(runtime, id);
    },
  };
  await cluster.connector.start();
  cluster.ingressUrl = `http://127.0.0.1:${cluster.connector.ports.api}`;
  await waitConnected(runtime, id);
  return cluster;
}

export async function waitConnected(runtime: TestRuntime, id: string): Promise<void> {
  await eventually(
    async () => {
      const r = await api(runtime, 'GET', '/v1/clusters');
      const c = (
        r.body as { clusters: { id: string; connected: boolean; services: string[] }[] }
      ).clusters.find((x) => x.id === id);
      return c?.connected && c.services.length > 0;
    },
    10_000,
    `cluster ${id} to connect`,
  );
}

export async function api(
  runtime: TestRuntime,
  method: string,
  path: string,
  body?: unknown,
  token = runtime.developerToken,
) {
  const res = await fetch(`${runtime.httpUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A second developer, with their own token. */
export async function addDeveloper(runtime: TestRuntime, id: string): Promise<string> {
  const store = new DynamoDbStore(
    new DynamoDBClient({
      region: runtime.region,
      endpoint: runtime.dynamodbEndpoint,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
    runtime.tableName,
  );
  const token = generateToken('developer');
  await registerToken(store, token, { type: 'developer', id });
  return token;
}

function withRouterArgs(args: string[], router: string[]): string[] {
  const dashes = args.indexOf('--');
  return dashes < 0
    ? [BIN, ...args, ...router]
    : [BIN, ...args.slice(0, dashes), ...router, ...args.slice(dashes)];
}

export interface CliRun {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  waitFor(pattern: RegExp, where?: 'stdout' | 'stderr', timeoutMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/** Ctrl-C to every run still going, each awaited to its exit (so its session ends first). */
export async function stopRuns(runs: CliRun[]): Promise<void> {
  for (const r of runs) {
    if (r.child.exitCode === null) {
      r.child.kill('SIGINT');
      await r.exited;
    }
  }
}

/** Runs the `switchyard` command as a user would, against the test runtime. */
export function cli(runtime: TestRuntime, args: string[], token = runtime.developerToken): CliRun {
  const child = spawn(
    process.execPath,
    // Router options at the end, or before the `-- <command...>` of exec.
    withRouterArgs(args, ['--router', runtime.httpUrl, '--ws', runtime.wsUrl, '--token', token]),
    {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
    if (process.env.SWITCHYARD_TEST_LOG) process.stderr.write(d);
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor: (pattern, where = 'stderr', timeoutMs = 20_000) =>
      eventually(
        () => pattern.test(where === 'stderr' ? err : out),
        timeoutMs,
        `${pattern} in the CLI's ${where}\n--- stderr:\n${err}`,
      ).then(() => undefined),
  };
}

export async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, text: await res.text(), servedBy: res.headers.get('x-served-by') };
}
