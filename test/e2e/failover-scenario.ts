/**
 * Drives `switchyard dev` as a child process (with `--replicas N`), real connectors and the CLI,
 * and measures what a killed router worker costs. Used by test/e2e/failover.test.ts (short lease)
 * and bench/failover/run.ts (default settings).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GATEWAY_PREFIX } from '../../infra/local/defaults.ts';
import { OWNER_HEADER } from '../../infra/local/replicas/connection-routing.ts';
import { RECONCILER_LEASE } from '../../shared/reconcile/reconciler.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { eventually, type TestRuntime } from '../helpers/local-runtime.ts';
import { BIN, type CliRun, cli, listen, namedServer, startCluster, type TestCluster } from './harness.ts';

export const TWO_CLUSTERS = {
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      queues: [{ name: 'orders', source: 'east-orders', fallback: 'east-orders-fallback' }],
    },
    { id: 'west', roles: ['workload'] },
  ],
};

const CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };

/** The part of local.json the scenarios read. */
export interface DevState {
  httpUrl: string;
  wsUrl: string;
  region: string;
  developerToken: string;
  clusters: Record<string, { token: string }>;
  dynamodb: { endpoint: string; table: string };
  sqs: { endpoint: string; queues: Record<string, string> };
  pid: number;
  replicas?: number;
}

export interface DevRun {
  child: ChildProcess;
  state: DevState;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Ctrl-C; resolves with the exit code. */
  stop(): Promise<number | null>;
}

export interface DevOptions {
  /** Working directory: topology.json, settings.json, local.json and data/ go here. */
  dir: string;
  replicas?: number;
  port?: number;
  /** Keep the table in memory (default); false keeps it under `<dir>/data`. */
  memory?: boolean;
  topology?: unknown;
  settings?: Record<string, number>;
  startTimeoutMs?: number;
}

/** `switchyard dev` as a user runs it; resolves once the banner is out and local.json is written. */
export async function startDev(o: DevOptions): Promise<DevRun> {
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, 'topology.json'), JSON.stringify(o.topology ?? TWO_CLUSTERS));
  const args = [
    BIN,
    'dev',
    '--config',
    'topology.json',
    '--state-file',
    'local.json',
    '--port',
    String(o.port ?? 0),
    ...(o.replicas !== undefined ? ['--replicas', String(o.replicas)] : []),
    ...(o.memory === false ? ['--data-dir', 'data'] : ['--memory']),
  ];
  if (o.settings) {
    writeFileSync(join(o.dir, 'settings.json'), JSON.stringify(o.settings));
    args.push('--settings', 'settings.json');
  }
  // The flags decide the port, not a SWITCHYARD_PORT the test runner may have.
  const { SWITCHYARD_PORT: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, args, {
    cwd: o.dir,
    env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
    if (process.env.SWITCHYARD_TEST_LOG) process.stderr.write(d);
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`switchyard dev exited early:\n${err}`);
      return out.includes('Ctrl-C stops it.');
    },
    o.startTimeoutMs ?? 90_000,
    `switchyard dev to start\n--- stderr:\n${err}`,
  );
  const state = JSON.parse(readFileSync(join(o.dir, 'local.json'), 'utf8')) as DevState;
  return {
    child,
    state,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      if (child.exitCode === null) child.kill('SIGINT');
      return exited;
    },
  };
}

/** What the e2e harness needs of a runtime, for a router running in another process. */
export function routerOf(state: DevState): TestRuntime {
  return {
    httpUrl: state.httpUrl,
    wsUrl: state.wsUrl,
    developerToken: state.developerToken,
    clusterTokens: Object.fromEntries(Object.entries(state.clusters).map(([id, c]) => [id, c.token])),
    region: state.region,
    dynamodbEndpoint: state.dynamodb.endpoint,
    tableName: state.dynamodb.table,
  } as unknown as TestRuntime;
}

export function storeOf(state: DevState): { store: DynamoDbStore; client: DynamoDBClient } {
  const client = new DynamoDBClient({
    region: state.region,
    endpoint: state.dynamodb.endpoint,
    credentials: CREDENTIALS,
  });
  return { store: new DynamoDbStore(client, state.dynamodb.table), client };
}

export interface LeaseHolding {
  owner: string;
  pid: number;
  token: number;
  acquiredAt: number;
  expiresAt: number;
}

/** The reconciler lease as stored; the owner id is `host:pid:random`. */
export async function leaseHolding(store: DynamoDbStore): Promise<LeaseHolding | undefined> {
  const item = await store.get(keys.lease(RECONCILER_LEASE), { consistent: true });
  if (!item) return undefined;
  const owner = String(item.owner);
  return {
    owner,
    pid: Number(owner.split(':').at(-2)),
    token: Number(item.token),
    acquiredAt: Number(item.acquiredAt),
    expiresAt: Number(item.expiresAt),
  };
}

/** The pid of the worker holding a WebSocket connection (the @connections API names the owner). */
export async function connectionOwner(state: DevState, connectionId: string): Promise<number | undefined> {
  const res = await fetch(
    `${state.httpUrl}${GATEWAY_PREFIX}/@connections/${encodeURIComponent(connectionId)}`,
  );
  await res.arrayBuffer();
  const owner = res.headers.get(OWNER_HEADER);
  return res.status === 200 && owner ? Number(owner) : undefined;
}

export async function clientConnectionOf(
  store: DynamoDbStore,
  sessionId: string,
): Promise<string | undefined> {
  const s = await store.get(keys.session(sessionId), { consistent: true });
  return typeof s?.clientConnectionId === 'string' ? s.clientConnectionId : undefined;
}

/** Items written under the lease whose fence is above the lease's current token: writes of a holder that should not exist. */
export async function staleFencedItems(state: DevState, token: number): Promise<number> {
  const { client } = storeOf(state);
  let stale = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const out = await client.send(
      new ScanCommand({
        TableName: state.dynamodb.table,
        ...(start ? { ExclusiveStartKey: start as never } : {}),
      }),
    );
    for (const item of out.Items ?? []) {
      const fence = item.fence?.N;
      if (fence !== undefined && Number(fence) > token) stale++;
    }
    start = out.LastEvaluatedKey;
  } while (start);
  client.destroy();
  return stale;
}

export interface RequestRecord {
  cluster: string;
  sentAt: number;
  doneAt?: number;
  status?: number;
  servedBy?: string | null;
  error?: string;
}

/** Requests to every cluster's ingress at a steady pace, each recorded with who answered it. */
export class TrafficLoop {
  readonly records: RequestRecord[] = [];
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly targets: { cluster: string; url: string }[],
    private readonly headers: Record<string, string>,
    private readonly everyMs: number,
    /** Upper bounds: the loop stops sending at whichever comes first. */
    private readonly limits: { maxRequests: number; maxMs: number },
  ) {}

  start(): this {
    const began = Date.now();
    const tick = () => {
      if (this.stopped) return;
      if (this.records.length >= this.limits.maxRequests || Date.now() - began > this.limits.maxMs) return;
      for (const t of this.targets) this.send(t);
      this.timer = setTimeout(tick, this.everyMs);
    };
    tick();
    return this;
  }

  private send(t: { cluster: string; url: string }): void {
    const rec: RequestRecord = { cluster: t.cluster, sentAt: Date.now() };
    this.records.push(rec);
    const p = fetch(t.url, { headers: this.headers, signal: AbortSignal.timeout(60_000) })
      .then(async (res) => {
        await res.text();
        rec.status = res.status;
        rec.servedBy = res.headers.get('x-served-by');
      })
      .catch((err: Error) => {
        rec.error = err.message;
      })
      .finally(() => {
        rec.doneAt = Date.now();
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }

  /** Served by the local app, for a request sent at or after `t`, per cluster (undefined: none yet). */
  firstLocalAfter(t: number, cluster: string): RequestRecord | undefined {
    return this.records
      .filter((r) => r.cluster === cluster && r.sentAt >= t && r.servedBy === 'local-app' && r.doneAt)
      .sort((a, b) => a.doneAt! - b.doneAt!)[0];
  }

  /** Stops sending and waits for every request in flight. */
  async stop(): Promise<RequestRecord[]> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.all([...this.inFlight]);
    return this.records;
  }
}

export interface KillReport {
  pid: number;
  /** What the killed worker held. */
  held: { client: boolean; lease: boolean };
  /** Kill -> first request (sent after the kill) answered by the local app again, per cluster: the session resumed. */
  resumeMs?: Record<string, number>;
  /** Kill -> the CLI printed that it reconnected and resumed its session (when it held the CLI's connection). */
  cliResumedMs?: number;
  /** Kill -> the lease acquired by another worker (its acquiredAt). */
  leaseFailoverMs?: number;
  /** The token before and after. */
  tokens?: [number, number];
}

export interface FailoverReport {
  replicas: number;
  settings: Record<string, number> | 'defaults';
  requestDeadlineMs: number;
  sessionId: string;
  kills: KillReport[];
  requests: { sent: number; local: number; upstream: number; lost: number; lostDetail: RequestRecord[] };
  /** The CLI said it resumed the same session, and that session is the only live one. */
  resumedSameSession: boolean;
  liveSessions: string[];
  /** Items written under the lease with a fence above the final token (must be 0). */
  staleFencedItems: number;
  finalToken: number;
  workerRestarts: number;
}

export interface FailoverOptions {
  replicas?: number;
  settings?: Record<string, number>;
  /** The connectors' deadline for a stolen request (then the upstream answers). */
  requestDeadlineMs?: number;
  /** Per cluster. */
  requestEveryMs?: number;
  /** How long traffic keeps flowing after the last measurement. */
  settleMs?: number;
  log?: (line: string) => void;
  /** Log every request around each kill. */
  trace?: boolean;
}

const resumedLines = (run: CliRun): number =>
  run.stderr().match(/reconnected: session \w+ resumed/g)?.length ?? 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Two clusters, an intercept stealing `x-dev: alice` from both, requests flowing to both
 * ingresses; SIGKILL the worker holding the CLI's connection, then (unless that one also held
 * the reconciler lease) the worker holding the lease. Measures resume and duties failover and
 * accounts for every request.
 */
export async function runFailover(o: FailoverOptions = {}): Promise<FailoverReport> {
  const log = o.log ?? (() => {});
  const replicas = o.replicas ?? 2;
  const requestDeadlineMs = o.requestDeadlineMs ?? 2_000;
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-failover-'));
  const cleanup: (() => Promise<unknown> | unknown)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const dev = await startDev({ dir, replicas, ...(o.settings ? { settings: o.settings } : {}) });
    cleanup.unshift(() => dev.stop());
    const rt = routerOf(dev.state);
    const { store, client } = storeOf(dev.state);
    cleanup.unshift(() => client.destroy());

    const clusters: TestCluster[] = [];
    for (const id of ['east', 'west']) {
      const c = await startCluster(rt, id, { requestDeadlineMs });
      clusters.push(c);
      cleanup.unshift(async () => {
        await c.connector.stop();
        c.upstream.close();
      });
    }
    const app: Server = namedServer('local-app');
    const appPort = await listen(app);
    cleanup.unshift(() => app.close());

    const run: CliRun = cli(rt, ['intercept', 'api', '--to', String(appPort), '--header', 'x-dev=^alice$']);
    cleanup.unshift(async () => {
      if (run.child.exitCode === null) {
        run.child.kill('SIGINT');
        await run.exited;
      }
    });
    await run.waitFor(/session (\w+): Ctrl-C/, 'stderr', 60_000);
    const sessionId = run.stderr().match(/session (\w+): Ctrl-C/)![1]!;
    log(`session ${sessionId} stealing from east and west`);

    const loop = new TrafficLoop(
      clusters.map((c) => ({ cluster: c.id, url: `${c.ingressUrl}/orders` })),
      { 'x-dev': 'alice' },
      o.requestEveryMs ?? 100,
      { maxRequests: 20_000, maxMs: 300_000 },
    ).start();
    cleanup.unshift(() => loop.stop());
    await eventually(
      () => clusters.every((c) => loop.firstLocalAfter(0, c.id)),
      30_000,
      'the local app to answer both clusters',
    );

    const kills: KillReport[] = [];
    const kill = async (pid: number, held: KillReport['held'], before?: LeaseHolding) => {
      const report: KillReport = { pid, held };
      const killedAt = Date.now();
      process.kill(pid, 'SIGKILL');
      log(
        `killed worker ${pid} (held ${held.client ? 'the CLI connection' : ''}${held.client && held.lease ? ' and ' : ''}${held.lease ? 'the lease' : ''})`,
      );
      const waits: Promise<unknown>[] = [];
      const resumedBefore = resumedLines(run);
      if (held.client) {
        waits.push(
          eventually(() => resumedLines(run) > resumedBefore, 60_000, 'the CLI to resume').then(() => {
            report.cliResumedMs = Date.now() - killedAt;
          }),
        );
      }
      // Every cluster's traffic reaches the local app again: the session resumed.
      waits.push(
        eventually(
          () => clusters.every((c) => loop.firstLocalAfter(killedAt, c.id)),
          60_000,
          'the local app to answer again after the kill',
        ).then(() => {
          report.resumeMs = Object.fromEntries(
            clusters.map((c) => [c.id, loop.firstLocalAfter(killedAt, c.id)!.doneAt! - killedAt]),
          );
        }),
      );
      if (held.lease && before) {
        waits.push(
          eventually(
            async () => {
              const h = await leaseHolding(store);
              return h && h.pid !== pid && h.token > before.token ? h : undefined;
            },
            120_000,
            'another worker to take the lease',
          ).then((h) => {
            report.leaseFailoverMs = h.acquiredAt - killedAt;
            report.tokens = [before.token, h.token];
          }),
        );
      }
      await Promise.all(waits);
      if (o.trace) {
        // Every request around the kill: when it was sent and answered (ms from the kill), and by whom.
        for (const r of loop.records.filter((x) => x.sentAt > killedAt - 300 && x.sentAt < killedAt + 3000))
          log(
            `    ${r.cluster} sent ${r.sentAt - killedAt} answered ${r.doneAt ? r.doneAt - killedAt : '-'} by ${r.servedBy ?? r.error}`,
          );
      }
      log(
        `  CLI resumed ${report.cliResumedMs ?? '-'} ms, local app again ${JSON.stringify(report.resumeMs)} ms, lease failover ${report.leaseFailoverMs ?? '-'} ms`,
      );
      kills.push(report);
    };

    // 1. The worker that holds the CLI's connection.
    const connectionId = await eventually(
      () => clientConnectionOf(store, sessionId),
      10_000,
      'the CLI connection',
    );
    const clientPid = await eventually(() => connectionOwner(dev.state, connectionId), 10_000, 'its owner');
    const lease1 = await eventually(() => leaseHolding(store), 30_000, 'a lease holder');
    await kill(clientPid, { client: true, lease: lease1.pid === clientPid }, lease1);

    // 2. The lease holder, if the first kill left it alive.
    if (lease1.pid !== clientPid) {
      // Wait for the killed slot to be started again, so the leader is not the last worker.
      await eventually(
        () => dev.stderr().includes('started again'),
        60_000,
        'the killed worker to be replaced',
      );
      const lease2 = await eventually(() => leaseHolding(store), 10_000, 'a lease holder');
      const conn = await clientConnectionOf(store, sessionId);
      const holdsClient = conn !== undefined && (await connectionOwner(dev.state, conn)) === lease2.pid;
      await kill(lease2.pid, { client: holdsClient, lease: true }, lease2);
    }

    // Every killed worker replaced, then traffic for a while longer on the full set.
    await eventually(
      () => (dev.stderr().match(/started again/g)?.length ?? 0) >= kills.length,
      90_000,
      'the killed workers to be replaced',
    );
    await sleep(o.settleMs ?? 2_000);
    const records = await loop.stop();
    const lostDetail = records.filter(
      (r) =>
        r.error !== undefined ||
        r.status !== 200 ||
        !r.servedBy ||
        !/^(local-app|upstream-)/.test(r.servedBy),
    );
    const { body } = await fetch(`${dev.state.httpUrl}/v1/sessions?state=live`, {
      headers: { authorization: `Bearer ${dev.state.developerToken}` },
    }).then(async (r) => ({ body: (await r.json()) as { sessions: { id: string }[] } }));
    const liveSessions = body.sessions.map((s) => s.id);
    const finalLease = await leaseHolding(store);
    const finalToken = finalLease?.token ?? 0;
    return {
      replicas,
      settings: o.settings ?? 'defaults',
      requestDeadlineMs,
      sessionId,
      kills,
      requests: {
        sent: records.length,
        local: records.filter((r) => r.servedBy === 'local-app').length,
        upstream: records.filter((r) => r.servedBy?.startsWith('upstream-')).length,
        lost: lostDetail.length,
        lostDetail: lostDetail.slice(0, 10),
      },
      resumedSameSession:
        run.stderr().includes(`reconnected: session ${sessionId} resumed`) &&
        liveSessions.length === 1 &&
        liveSessions[0] === sessionId,
      liveSessions,
      staleFencedItems: await staleFencedItems(dev.state, finalToken),
      finalToken,
      workerRestarts: dev.stderr().match(/started again/g)?.length ?? 0,
    };
  } finally {
    for (const step of cleanup) {
      try {
        await step();
      } catch {}
    }
  }
}
