import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import pg from 'pg';
import { collectDatabases } from '../../connector/branches/config.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector, type ConnectorExtension } from '../../connector/connector.ts';
import { type ServedConnector, serveConnector } from '../../connector/lifecycle/lifecycle.ts';
import { defaultCluster } from '../../shared/config/topology.ts';
import { Balancer } from './balancer.ts';
import { DEMO_REPLICAS_PER_CLUSTER } from './defaults.ts';
import type { LocalLog } from './log.ts';
import type { LocalRuntime } from './runtime.ts';

/** How often the demo's balancers ask each replica's /readyz (the kubelet's periodSeconds, scaled down). */
const DEMO_READINESS_POLL_MS = 500;

export interface DemoOptions {
  replicasPerCluster?: number;
}

/**
 * `switchyard dev --demo`: every cluster of the topology gets connectors on loopback, behind a
 * balancer that stands for the Service (round robin over the replicas ready by /readyz), in
 * front of a small `api` service that answers with its cluster's name; a consumer that logs
 * what reaches its `orders` fallback queue, and (on the default cluster, when PostgreSQL is
 * reachable) an `orders` database to branch. Their URLs go to local.json under `demo`.
 */
export interface Demo {
  clusters: Record<string, DemoCluster>;
  /** Each cluster's connector replicas, in the balancer's order. */
  replicas: Record<string, ServedConnector[]>;
  stop(): Promise<void>;
}

export interface DemoReplica {
  name: string;
  ingressUrl: string;
  adminUrl: string;
}

export interface DemoCluster {
  /** `ingressUrl` is the balancer's: what a Service's clients call. */
  services: Record<string, { ingressUrl: string; upstreamUrl: string; replicas: DemoReplica[] }>;
  queues: Record<string, { source: string; fallback: string }>;
  databases: string[];
}

const DEMO_DB = 'switchyard_demo_orders';

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function demoService(cluster: string): Server {
  return createServer((req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.setHeader('x-served-by', `${cluster}/api`);
    res.end(`hello from ${cluster} (the deployed api): ${req.method} ${req.url}\n`);
  });
}

/** A database for branching, when a PostgreSQL server answers on 127.0.0.1:5432. */
async function demoDatabase(log: LocalLog): Promise<string | undefined> {
  const user = process.env.PGUSER ?? 'postgres';
  const base = `postgres://${user}@127.0.0.1:5432`;
  const admin = new pg.Client({ connectionString: `${base}/postgres`, connectionTimeoutMillis: 1500 });
  try {
    await admin.connect();
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [DEMO_DB]);
    if (exists.rowCount === 0) {
      await admin.query(`CREATE DATABASE ${DEMO_DB}`);
      const db = new pg.Client({ connectionString: `${base}/${DEMO_DB}` });
      await db.connect();
      await db.query('CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL, qty int NOT NULL)');
      await db.query(
        "INSERT INTO orders (item, qty) SELECT 'item-' || g, g % 7 + 1 FROM generate_series(1, 100) g",
      );
      await db.end();
    }
    return `${base}/${DEMO_DB}`;
  } catch (err) {
    log.info(
      `demo: no PostgreSQL on 127.0.0.1:5432 (${(err as Error).message}); database branching is left out`,
    );
    return undefined;
  } finally {
    await admin.end().catch(() => {});
  }
}

/** Logs (and deletes) what reaches a cluster's fallback queue: the deployed consumer's view. */
function startConsumer(sqs: SQSClient, cluster: string, queueUrl: string, log: LocalLog): () => void {
  let stopped = false;
  (async () => {
    while (!stopped) {
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
          }),
        );
        for (const m of out.Messages ?? []) log.info(`demo: [${cluster} orders consumer] got ${m.Body}`);
        if (out.Messages?.length) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: queueUrl,
              Entries: out.Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
        }
      } catch (err) {
        if (!stopped) {
          log.warn(`demo: ${cluster} consumer`, err);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    }
  })();
  return () => {
    stopped = true;
  };
}

export async function startDemo(
  runtime: LocalRuntime,
  log: LocalLog,
  options: DemoOptions = {},
): Promise<Demo> {
  const replicasPerCluster = options.replicasPerCluster ?? DEMO_REPLICAS_PER_CLUSTER;
  const servers: Server[] = [];
  const balancers: Balancer[] = [];
  const replicas: Record<string, ServedConnector[]> = {};
  const stops: (() => void)[] = [];
  const clusters: Record<string, DemoCluster> = {};
  const clients = new Map<string, SQSClient>();
  const sqsIn = (region: string): SQSClient => {
    let c = clients.get(region);
    if (!c) {
      c = new SQSClient({
        region,
        endpoint: runtime.sqsEndpoint,
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      clients.set(region, c);
    }
    return c;
  };
  const defaultId = defaultCluster(runtime.topology).id;
  const dbUrl = await demoDatabase(log);
  for (const c of runtime.topology.clusters) {
    const upstream = demoService(c.id);
    servers.push(upstream);
    const upstreamUrl = `http://127.0.0.1:${await listen(upstream)}`;
    const databases =
      c.id === defaultId && dbUrl
        ? [{ name: 'orders', type: 'postgres', url: dbUrl, appEnv: 'DATABASE_URL' }]
        : [];
    const config = parseConnectorConfig({
      services: [
        {
          name: 'api',
          ingress: { port: 0, host: '127.0.0.1' },
          upstream: upstreamUrl,
          env: {
            CLUSTER: c.id,
            GREETING: `hello from ${c.id}`,
            ...(c.id === defaultId && dbUrl ? { DATABASE_URL: dbUrl } : {}),
          },
          files: [],
          databases,
        },
      ],
      // `db.internal` is the demo's database host, as a cluster's DNS would name it: the local
      // PostgreSQL the walkthrough's `resolve` and `connect` reach.
      hosts: { 'db.internal': '127.0.0.1' },
      outgoing: { allow: ['127.0.0.1:*', 'localhost:*', 'db.internal:5432'] },
      admin: { port: 0, host: '127.0.0.1' },
      // The balancer polls every 500 ms: a second of drain covers it, as 5 s covers kube-proxy.
      shutdown: { drainMs: 1_000, graceMs: 5_000 },
    });
    const balancer = new Balancer([], {
      pollMs: DEMO_READINESS_POLL_MS,
      log: (m) => log.info(`demo ${c.id} ${m}`),
    });
    balancers.push(balancer);
    const served: ServedConnector[] = [];
    replicas[c.id] = served;
    const demoReplicas: DemoReplica[] = [];
    for (let r = 1; r <= replicasPerCluster; r++) {
      const name = `${c.id}-connector-${r}`;
      const extensions: ConnectorExtension[] = databases.length
        ? [branchExtension({ databases: collectDatabases(config.services) })]
        : [];
      const connectorLog = (l: Record<string, unknown>) => {
        if (l.level === 'ERROR' || l.level === 'WARN') log.warn(`demo ${name}: ${String(l.message)}`);
      };
      const connector = new Connector({
        router: runtime.wsUrl,
        cluster: c.id,
        token: runtime.clusterTokens[c.id]!,
        config,
        extensions,
        log: connectorLog,
        replicaId: name,
      });
      const replica = await serveConnector(connector, config, connectorLog);
      served.push(replica);
      const port = connector.ports.api!;
      const adminUrl = `http://127.0.0.1:${replica.adminPort}`;
      balancer.add({ name, port, readyUrl: `${adminUrl}/readyz` });
      demoReplicas.push({ name, ingressUrl: `http://127.0.0.1:${port}`, adminUrl });
    }
    const ingressUrl = `http://127.0.0.1:${await balancer.listen()}`;
    const queues: DemoCluster['queues'] = {};
    for (const q of c.queues) {
      const fallback = runtime.queues.find((x) => x.queueName === q.fallback);
      const source = runtime.queues.find((x) => x.queueName === q.source);
      if (fallback && source) {
        queues[q.name ?? q.source] = { source: source.url, fallback: fallback.url };
        stops.push(startConsumer(sqsIn(fallback.region), c.id, fallback.url, log));
      }
    }
    clusters[c.id] = {
      services: { api: { ingressUrl, upstreamUrl, replicas: demoReplicas } },
      queues,
      databases: databases.map((d) => d.name),
    };
  }
  if (runtime.stateFile) {
    const state = JSON.parse(readFileSync(runtime.stateFile, 'utf8'));
    writeFileSync(runtime.stateFile, `${JSON.stringify({ ...state, demo: { clusters } }, null, 2)}\n`, {
      mode: 0o600,
    });
  }
  return {
    clusters,
    replicas,
    async stop() {
      for (const s of stops) s();
      await Promise.all(balancers.map((b) => b.close()));
      await Promise.all(Object.values(replicas).flatMap((rs) => rs.map((r) => r.close())));
      for (const s of servers) s.close();
      for (const c of clients.values()) c.destroy();
    },
  };
}

export function demoBanner(demo: Demo): string {
  const lines = ['', 'Demo clusters (each fronts a small "api" service that answers with its name):'];
  for (const [id, c] of Object.entries(demo.clusters)) {
    const api = c.services.api!;
    lines.push(
      `  ${id.padEnd(8)} api ingress ${api.ingressUrl}${c.databases.length ? `   databases: ${c.databases.join(', ')}` : ''}`,
      `           a balancer (the Service) over ${api.replicas.length} connector${api.replicas.length === 1 ? '' : 's'}, ready by ${api.replicas.map((r) => `${r.adminUrl}/readyz`).join(', ')}`,
    );
  }
  const url = Object.values(demo.clusters)[0]?.services.api?.ingressUrl ?? '<ingress url>';
  lines.push(
    '',
    'Try it: run a local app on port 3000, then',
    '  switchyard intercept api --to 3000 --header x-dev=me',
    `  curl -H 'x-dev: me' ${url}/hello     # reaches your app`,
    `  curl ${url}/hello                     # reaches the cluster's api`,
  );
  return lines.join('\n');
}
