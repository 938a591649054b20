import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { RouterApi } from '../../../cli/router/api-client.ts';
import { type ConnectorConfig, parseConnectorConfig } from '../../../connector/config.ts';
import { Connector } from '../../../connector/connector.ts';
import { DynamoDbStore } from '../../../shared/store/dynamodb/dynamodb-store.ts';
import {
  clientConnectionOf,
  connectionOwner,
  type DevRun,
  type DevState,
  leaseHolding,
  routerOf,
  startDev,
} from '../../e2e/failover-scenario.ts';
import { api, listen, namedServer, waitConnected } from '../../e2e/harness.ts';
import { eventually, type TestRuntime } from '../local-runtime.ts';

/** Two clusters in two regions, each with its own `orders` source and fallback queue. */
export const CHAOS_TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      queues: [{ name: 'orders', source: 'east-orders', fallback: 'east-orders-fallback' }],
    },
    {
      id: 'west',
      roles: ['workload'],
      region: 'us-west-2',
      queues: [{ name: 'orders', source: 'west-orders', fallback: 'west-orders-fallback' }],
    },
  ],
};
export const CLUSTERS = ['east', 'west'] as const;
export const REGION: Record<string, string> = { east: 'us-east-1', west: 'us-west-2' };

/** Short enough for a run to settle in seconds; every bound the oracle checks derives from these. */
export const CHAOS_SETTINGS = {
  leaseMs: 2_000,
  renewMs: 500,
  reconcileEveryMs: 300,
  // A session is not heartbeated until its client connects, after every cluster got it ready:
  // on a loaded machine that can take seconds, so the timeout leaves room for it.
  sessionTimeoutMs: 8_000,
  splitCacheMs: 300,
  // A splitter batch takes well under this here, even on a loaded machine.
  splitSendGraceMs: 3_000,
  drainTimeoutMs: 0,
  childReadyTimeoutMs: 8_000,
};

/**
 * A source message a killed worker had received comes back after the queue's visibility
 * timeout; SQS's default 30 s would make every run that kills a worker wait that long.
 */
const SOURCE_VISIBILITY_SECONDS = 5;
/** The test's consumers receive with this visibility timeout (fallback and output queues). */
export const CONSUMER_VISIBILITY_SECONDS = 5;
/** How long a message a killed worker or a timed-out receive held may take to come back. */
export const REDELIVERY_MS = Math.max(SOURCE_VISIBILITY_SECONDS, CONSUMER_VISIBILITY_SECONDS) * 1000;

interface Cluster {
  id: string;
  config: ConnectorConfig;
  upstream: Server;
  connector?: Connector;
}

/**
 * The real system under test: `switchyard dev --replicas 2` on a persisted data dir (so it can
 * be stopped and started again), and one in-process connector per cluster. It knows how to
 * break each part the way production breaks: SIGKILL a router worker, stop the whole runtime,
 * drop a cluster's connector.
 */
export class ChaosSystem {
  dev!: DevRun;
  readonly clusters = new Map<string, Cluster>();
  private port = 0;
  private readonly sqsClients = new Map<string, SQSClient>();
  private store?: { client: DynamoDBClient; store: DynamoDbStore; endpoint: string };

  private constructor(readonly dir: string) {}

  static async start(): Promise<ChaosSystem> {
    const sys = new ChaosSystem(mkdtempSync(join(tmpdir(), 'switchyard-chaos-')));
    try {
      await sys.startRuntime();
      for (const id of CLUSTERS) {
        const upstream = namedServer(`upstream-${id}`);
        const upstreamPort = await listen(upstream);
        const config = parseConnectorConfig({
          services: [
            {
              name: 'api',
              ingress: { port: 0, host: '127.0.0.1' },
              upstream: `http://127.0.0.1:${upstreamPort}`,
            },
          ],
          requestDeadlineMs: 1_000,
        });
        sys.clusters.set(id, { id, config, upstream });
        await sys.connect(id);
      }
      await sys.shortenRedelivery();
      return sys;
    } catch (err) {
      await sys.stop();
      throw err;
    }
  }

  private async shortenRedelivery(): Promise<void> {
    for (const id of CLUSTERS) {
      await this.sqs(id).send(
        new SetQueueAttributesCommand({
          QueueUrl: this.queueUrl(id, 'source'),
          Attributes: { VisibilityTimeout: String(SOURCE_VISIBILITY_SECONDS) },
        }),
      );
    }
  }

  get state(): DevState {
    return this.dev.state;
  }

  get rt(): TestRuntime {
    return routerOf(this.state);
  }

  get api(): RouterApi {
    return new RouterApi({
      httpUrl: this.state.httpUrl,
      wsUrl: this.state.wsUrl,
      token: this.state.developerToken,
    });
  }

  /** The table, through the endpoint the running runtime announced (dynalite's port changes on a restart). */
  get db() {
    const endpoint = this.state.dynamodb.endpoint;
    if (this.store?.endpoint !== endpoint) {
      this.store?.client.destroy();
      const client = new DynamoDBClient({
        region: this.state.region,
        endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 },
      });
      this.store = { client, store: new DynamoDbStore(client, this.state.dynamodb.table), endpoint };
    }
    return this.store.store;
  }

  sqs(cluster: string): SQSClient {
    const region = REGION[cluster]!;
    let c = this.sqsClients.get(region);
    if (!c) {
      c = new SQSClient({
        region,
        endpoint: this.state.sqs.endpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
        maxAttempts: 1,
        // A call caught by a runtime stop must fail, not hang the run.
        requestHandler: { requestTimeout: 10_000, connectionTimeout: 3_000 },
      });
      this.sqsClients.set(region, c);
    }
    return c;
  }

  queueUrl(cluster: string, role: 'source' | 'fallback'): string {
    const name = `${cluster}-orders${role === 'fallback' ? '-fallback' : ''}`;
    return this.state.sqs.queues[name]!;
  }

  private async startRuntime(): Promise<void> {
    this.dev = await startDev({
      dir: this.dir,
      replicas: 2,
      memory: false,
      topology: CHAOS_TOPOLOGY,
      settings: CHAOS_SETTINGS,
      ...(this.port ? { port: this.port } : {}),
      startTimeoutMs: 120_000,
    });
    this.port = Number(new URL(this.dev.state.httpUrl).port);
  }

  /** Ctrl-C; a runtime that does not stop in time is killed, so a run never hangs on it. */
  private async stopRuntime(): Promise<void> {
    const dev = this.dev;
    const timer = setTimeout(() => dev.child.kill('SIGKILL'), 30_000);
    await dev.stop();
    clearTimeout(timer);
  }

  /** Starts (or starts again) a cluster's connector on the same ingress port, and waits until the router has it. */
  async connect(id: string): Promise<void> {
    const c = this.clusters.get(id)!;
    if (c.connector) return;
    const connector = new Connector({
      router: this.state.wsUrl,
      cluster: id,
      token: this.state.clusters[id]!.token,
      config: c.config,
      log: process.env.SWITCHYARD_TEST_LOG ? undefined : () => {},
    });
    await connector.start();
    c.config.services[0]!.ingress.port = connector.ports.api!;
    c.connector = connector;
    await waitConnected(this.rt, id);
  }

  /** The connector goes away (a cluster's pods evicted, its network cut); the router notices. */
  async disconnect(id: string): Promise<void> {
    const c = this.clusters.get(id)!;
    const connector = c.connector;
    if (!connector) return;
    c.connector = undefined;
    await connector.stop();
    await eventually(
      async () => {
        const { body } = await api(this.rt, 'GET', '/v1/clusters');
        const found = (body.clusters as { id: string; connected: boolean }[]).find((x) => x.id === id);
        return found && !found.connected;
      },
      20_000,
      `the router to see ${id} disconnected`,
    );
  }

  /** Every connector that is up is connected again (after a worker kill or a restart). */
  async connectorsBack(): Promise<void> {
    for (const c of this.clusters.values()) {
      if (!c.connector) continue;
      await eventually(() => c.connector!.peer.connected, 30_000, `${c.id}'s connector to reconnect`);
      await waitConnected(this.rt, c.id);
    }
  }

  /**
   * SIGKILL the router worker that holds a session's client connection, or the reconciler lease.
   * Returns whether the killed worker held the lease (its duties wait up to one lease period).
   */
  async killWorker(target: { sessionId?: string }): Promise<{ pid: number; heldLease: boolean } | undefined> {
    const lease = await leaseHolding(this.db);
    let pid: number | undefined;
    if (target.sessionId) {
      const conn = await clientConnectionOf(this.db, target.sessionId);
      if (conn) pid = await connectionOwner(this.state, conn);
    }
    pid ??= lease && lease.expiresAt > Date.now() ? lease.pid : undefined;
    if (!pid) return undefined;
    const restarts = this.workerRestarts();
    process.kill(pid, 'SIGKILL');
    const heldLease = lease?.pid === pid;
    await eventually(() => this.workerRestarts() > restarts, 60_000, 'the killed worker to be started again');
    await this.connectorsBack();
    return { pid, heldLease };
  }

  private workerRestarts(): number {
    return this.dev.stderr().match(/started again/g)?.length ?? 0;
  }

  /** Ctrl-C on the whole runtime, a pause, and a start on the same data dir and port. */
  async restart(downMs: number): Promise<{ from: number; to: number }> {
    const from = Date.now();
    await this.stopRuntime();
    await new Promise((r) => setTimeout(r, downMs));
    // The embedded SQS comes back on its port, so consumers keep their clients.
    await this.startRuntime();
    const to = Date.now();
    await this.shortenRedelivery();
    await this.connectorsBack();
    return { from, to };
  }

  async stop(): Promise<void> {
    for (const c of this.clusters.values()) {
      await c.connector?.stop().catch(() => {});
      c.connector = undefined;
      c.upstream.close();
    }
    for (const c of this.sqsClients.values()) c.destroy();
    this.store?.client.destroy();
    if (this.dev) await this.stopRuntime();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
