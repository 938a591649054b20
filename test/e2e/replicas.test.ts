import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collectDatabases } from '../../connector/branches/config.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { PostgresBranchEngine } from '../../connector/branches/postgres/postgres-engine.ts';
import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { api, type CliRun, cli, get, listen, namedServer } from './harness.ts';

/**
 * Two connector replicas per cluster, each with its own connection to the router and its own
 * ingress (as two pods behind a Service), against the local runtime.
 */
const PG = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432`;
const SOURCE = `sy_e2e_rep_${randomBytes(3).toString('hex')}`;

interface Replica {
  cluster: string;
  id: string;
  connector: Connector;
  upstream: Server;
  ingressUrl: string;
  /** branch.create messages this replica received (the router re-sends a create while it runs). */
  branchCreates: number;
  /** Databases this replica's engine actually created. */
  engineCreates: number;
}

let runtime: TestRuntime;
let pgReachable = true;
const replicas = new Map<string, Replica>();
let app: Server;
let appPort: number;
const running: CliRun[] = [];

async function sql(db: string, text: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: `${PG}/${db}` });
  await c.connect();
  try {
    return (await c.query(text)).rows;
  } finally {
    await c.end();
  }
}

async function startReplica(cluster: string, id: string): Promise<Replica> {
  const upstream = namedServer(`upstream-${id}`);
  const upstreamPort = await listen(upstream);
  const databases =
    cluster === 'east' && pgReachable
      ? [{ name: 'orders', type: 'postgres', url: `${PG}/${SOURCE}`, appEnv: 'DATABASE_URL' }]
      : [];
  const config = parseConnectorConfig({
    services: [
      {
        name: 'api',
        ingress: { port: 0, host: '127.0.0.1' },
        upstream: `http://127.0.0.1:${upstreamPort}`,
        env: { CLUSTER_NAME: cluster, REPLICA: id },
        files: [],
        databases,
      },
    ],
    outgoing: { allow: ['127.0.0.1:*'] },
    requestDeadlineMs: 2_000,
  });
  const replica: Replica = {
    cluster,
    id,
    upstream,
    ingressUrl: '',
    branchCreates: 0,
    engineCreates: 0,
  } as Replica;
  const postgres = new PostgresBranchEngine();
  const create = postgres.create.bind(postgres);
  // A create repeated after the first finished finds the database there ('existing'): not counted.
  postgres.create = async (...a: Parameters<PostgresBranchEngine['create']>) => {
    const outcome = await create(...a);
    if (outcome.result !== 'existing') replica.engineCreates++;
    return outcome;
  };
  const extensions = databases.length
    ? [branchExtension({ databases: collectDatabases(config.services), engines: { postgres } })]
    : [];
  for (const ext of extensions) {
    const handle = ext.handle.bind(ext);
    ext.handle = (m, c) => {
      if (m.type === 'branch.create') replica.branchCreates++;
      return handle(m, c);
    };
  }
  replica.connector = new Connector({
    router: runtime.wsUrl,
    cluster,
    token: runtime.clusterTokens[cluster]!,
    config,
    replicaId: id,
    extensions,
    log: process.env.SWITCHYARD_TEST_LOG ? undefined : () => {},
  });
  await replica.connector.start();
  replica.ingressUrl = `http://127.0.0.1:${replica.connector.ports.api}`;
  replicas.set(id, replica);
  await waitReplicas(cluster, (ids) => ids.includes(id));
  return replica;
}

/** `kill`: the socket is cut without a close handshake first, as when the process is killed. */
async function stopReplica(id: string, kill = false): Promise<void> {
  const r = replicas.get(id)!;
  if (kill) r.connector.peer.socket.drop();
  await r.connector.stop();
  r.upstream.close();
  replicas.delete(id);
}

type ClusterView = { id: string; connected: boolean; replicas: { id: string; stateful: boolean }[] };

async function clustersView(): Promise<ClusterView[]> {
  return (await api(runtime, 'GET', '/v1/clusters')).body.clusters as ClusterView[];
}

async function waitReplicas(cluster: string, ok: (ids: string[]) => boolean): Promise<string[]> {
  return eventually(
    async () => {
      const c = (await clustersView()).find((x) => x.id === cluster);
      const ids = (c?.replicas ?? []).map((r) => r.id);
      return ok(ids) ? ids : undefined;
    },
    10_000,
    `the replicas of ${cluster}`,
  );
}

function track(run: CliRun): CliRun {
  running.push(run);
  return run;
}

async function sessionIdOf(run: CliRun): Promise<string> {
  await run.waitFor(/session (\w+): Ctrl-C/);
  return run.stderr().match(/session (\w+): Ctrl-C/)![1]!;
}

function tcpRoundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1', () => s.write(text));
    let got = '';
    s.on('data', (d) => {
      got += d;
      if (got.length >= text.length) {
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    setTimeout(() => reject(new Error(`no echo after 5 s (got '${got}')`)), 5_000).unref();
  });
}

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as { port: number };
  await new Promise((r) => s.close(r));
  return port;
}

async function envOf(): Promise<Record<string, string>> {
  const env = cli(runtime, ['env', 'api', '--json']);
  expect(await env.exited, env.stderr()).toBe(0);
  return JSON.parse(env.stdout());
}

beforeAll(async () => {
  try {
    await sql('postgres', `CREATE DATABASE ${SOURCE}`);
    await sql(SOURCE, 'CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)');
    await sql(SOURCE, "INSERT INTO orders (item) VALUES ('one'), ('two')");
  } catch {
    pgReachable = false;
  }
  runtime = await startTestRuntime({ settings: { reconcileEveryMs: 300 } });
  // east-a first: the oldest replica answers the default cluster's stateful operations.
  for (const [cluster, id] of [
    ['east', 'east-a'],
    ['east', 'east-b'],
    ['west', 'west-a'],
    ['west', 'west-b'],
  ] as const)
    await startReplica(cluster, id);
  app = namedServer('local-app');
  appPort = await listen(app);
}, 60_000);

afterEach(async () => {
  for (const r of running.splice(0)) {
    if (r.child.exitCode === null) {
      r.child.kill('SIGINT');
      await r.exited;
    }
  }
});

afterAll(async () => {
  for (const id of [...replicas.keys()]) await stopReplica(id);
  app?.close();
  await runtime?.stop();
  if (pgReachable) {
    await sql('postgres', `DROP DATABASE IF EXISTS sy_branch_rep_once WITH (FORCE)`);
    await sql('postgres', `DROP DATABASE IF EXISTS ${SOURCE} WITH (FORCE)`);
  }
});

describe('two connector replicas per cluster', () => {
  it('lists every replica, and a session steals from both replicas of both clusters', async () => {
    const view = await clustersView();
    expect(view.map((c) => [c.id, c.replicas.map((r) => `${r.id}${r.stateful ? '*' : ''}`)])).toEqual([
      ['east', ['east-a*', 'east-b']],
      ['west', ['west-a*', 'west-b']],
    ]);

    const run = track(
      cli(runtime, ['intercept', 'api', '--to', String(appPort), '--header', 'x-dev=^alice$']),
    );
    await run.waitFor(/stealing api from east, west/);
    // The per-cluster progress names the replicas serving the session.
    expect(run.stderr()).toMatch(/east \(.*\): ready · 2 replicas: east-a \(stateful\), east-b/);
    expect(run.stderr()).toMatch(/west \(.*\): ready · 2 replicas: west-a \(stateful\), west-b/);

    for (const r of replicas.values()) {
      expect(await get(`${r.ingressUrl}/orders`, { 'x-dev': 'alice' })).toMatchObject({
        status: 200,
        servedBy: 'local-app',
      });
      expect((await get(`${r.ingressUrl}/orders`, { 'x-dev': 'bob' })).servedBy).toBe(`upstream-${r.id}`);
    }
  });

  it('creates a branch exactly once with two replicas of the default cluster', async (ctx) => {
    if (!pgReachable) ctx.skip();
    const create = cli(runtime, ['branch', 'create', 'orders', '--id', 'rep-once', '--ttl', '10m']);
    expect(await create.exited, create.stderr()).toBe(0);
    expect(create.stdout()).toContain('sy_branch_rep_once');
    expect(await sql('sy_branch_rep_once', 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 2 }]);
    // Past a few reconciler runs (each may re-send a pending create, which the replica running it
    // only answers with its progress): one replica's work, one database created.
    await new Promise((r) => setTimeout(r, 1_000));
    const [a, b] = [replicas.get('east-a')!, replicas.get('east-b')!];
    expect([a.engineCreates, b.engineCreates]).toEqual([1, 0]);
    expect(b.branchCreates).toBe(0);
    expect(a.branchCreates).toBeGreaterThanOrEqual(1);
    const branch = (await api(runtime, 'GET', '/v1/branches/rep-once')).body;
    expect(branch.phase).toBe('ready');
  });

  it('a reconnected replica (same id) gets the next session while its old connection is still open', async () => {
    await stopReplica('west-a');
    // west-a's old connection, still open (as a half-open one is): it never answers anything.
    const frames: Record<string, unknown>[] = [];
    const old = new WebSocket(`${runtime.wsUrl}?cluster=west&replica=west-a`, {
      headers: { authorization: `Bearer ${runtime.clusterTokens.west}` },
    });
    old.on('message', (d) => frames.push(JSON.parse(String(d))));
    await new Promise((r, j) => old.once('open', r).once('error', j));
    old.send(JSON.stringify({ v: 1, type: 'hello', services: ['api'] }));
    await waitReplicas('west', (ids) => ids.includes('west-a'));

    const again = await startReplica('west', 'west-a');
    try {
      const run = track(
        cli(runtime, ['intercept', 'api', '--to', String(appPort), '--header', 'x-dev=^carol$']),
      );
      const sessionId = await sessionIdOf(run);
      expect(await get(`${again.ingressUrl}/x`, { 'x-dev': 'carol' })).toMatchObject({
        servedBy: 'local-app',
      });
      expect(frames.filter((f) => f.sessionId === sessionId)).toEqual([]);
    } finally {
      old.close();
    }
  });

  it('keeps the session ready, env (in flight too) and outgoing working, after the replica that served them is killed', async () => {
    expect((await envOf()).REPLICA).toBe('east-a');

    const echo = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoPort = (echo.address() as { port: number }).port;
    const localPort = await freePort();
    const tunnel = track(cli(runtime, ['connect', `127.0.0.1:${echoPort}`, '--local', String(localPort)]));
    await tunnel.waitFor(/through the default cluster/);
    expect(await tcpRoundTrip(localPort, 'via east-a')).toBe('via east-a');
    // The tunnel's own session: it must stay ready through the kill.
    const live = (await api(runtime, 'GET', '/v1/sessions?state=live')).body.sessions as {
      id: string;
      label?: string;
    }[];
    const sessionId = live.find((x) => x.label === `connect 127.0.0.1:${echoPort}`)!.id;

    // east-a takes the next env request and dies before answering it (mid-operation).
    const east = replicas.get('east-a')!;
    let swallowed = 0;
    east.connector.opts.extensions!.push({
      types: ['env.get'],
      handle: () => {
        swallowed++;
      },
    });
    const inFlight = cli(runtime, ['env', 'api', '--json']);
    await eventually(() => swallowed > 0, 20_000, 'the env request to reach east-a');
    await stopReplica('east-a', true);
    // Retried on east-b, answered once.
    expect(await inFlight.exited, inFlight.stderr()).toBe(0);
    expect(JSON.parse(inFlight.stdout()).REPLICA).toBe('east-b');
    expect(await waitReplicas('east', (ids) => ids.length === 1)).toEqual(['east-b']);

    const s = (await api(runtime, 'GET', `/v1/sessions/${sessionId}`)).body as {
      state: string;
      clusters: Record<string, { state: string }>;
    };
    expect(s.state).toBe('ready');
    expect(s.clusters.east?.state).toBe('ready');
    expect(await tcpRoundTrip(localPort, 'via east-b')).toBe('via east-b');
    echo.close();
  });
});
