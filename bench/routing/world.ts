import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { resetDeps } from '../../functions/lib/deps.ts';
import { ENV } from '../../functions/lib/env.ts';
import { silentLog } from '../../infra/local/log.ts';
import { type LocalRuntime, startLocalRuntime } from '../../infra/local/runtime.ts';
import { switchableWsHandler } from './cold-relay.ts';
import { startDynaliteProcess } from './dynalite-process.ts';
import { type DynamoMeter, startDynamoMeter } from './dynamo-meter.ts';

/**
 * One router (the local runtime, in this process) with `clusters` connectors, each fronting the
 * service `api`. The router's DynamoDB calls go through a counting splice (dynamo-meter.ts). `readyDelayMs` holds
 * each connector's `child.ready` back, as a cluster that is that far away would.
 */
export interface World {
  runtime: LocalRuntime;
  clusterIds: string[];
  connectors: Connector[];
  meter: DynamoMeter;
  /** The ingress URL of the first cluster's `api` service. */
  ingressUrl: string;
  setColdRelay(cold: boolean): void;
  /** How long every connector holds its `child.ready` back from now on. */
  setReadyDelay(ms: number): void;
  stop(): Promise<void>;
}

export function topologyOf(n: number) {
  return {
    region: 'us-east-1',
    clusters: Array.from({ length: n }, (_, i) => ({
      id: `c${i}`,
      roles: i === 0 ? ['primary', 'workload', 'default'] : ['workload'],
    })),
  };
}

export async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

/** What unmatched requests reach in a cluster; never hit by the benchmark's matched requests. */
function upstreamServer(): Server {
  return createServer((_req, res) => {
    res.setHeader('x-served-by', 'upstream');
    res.end('upstream');
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function startWorld(opts: {
  clusters: number;
  readyDelayMs: number;
  /** dynalite in a process of its own (DynamoDB elsewhere, as on AWS) instead of in this one. */
  dynaliteApart?: boolean;
  /**
   * false: the router talks to DynamoDB directly, not through the counting splice (one TCP hop
   * less per call on this thread), and the meter counts nothing.
   */
  metered?: boolean;
}): Promise<World> {
  const metered = opts.metered ?? true;
  const meter = metered ? await startDynamoMeter() : unmetered();
  const apart = opts.dynaliteApart ? await startDynaliteProcess() : undefined;
  const ws = switchableWsHandler();
  const upstream = upstreamServer();
  const upstreamPort = await listen(upstream);
  const runtime = await startLocalRuntime({
    memory: true,
    port: 0,
    stateFile: false,
    ...(apart ? { dynamodbEndpoint: apart.endpoint } : {}),
    topology: topologyOf(opts.clusters),
    // The reconciler's scheduled run (every 5 s locally, every minute or more on AWS) would add
    // its own reads to the measured phases; it runs once at start and then not during the run.
    settings: { reconcileEveryMs: 600_000, requestDeadlineMs: 10_000 },
    handlers: { ws: ws.handler },
    log: silentLog,
    hooks: {
      // Before anything is served: the function environment points at the meter, and clients
      // built from the direct endpoint (none yet, unless the start-up reconcile ran) are dropped.
      onStarted(rt) {
        if (!metered) return;
        meter.target = rt.dynamodbEndpoint;
        process.env[ENV.dynamodbEndpoint] = meter.endpoint;
        resetDeps();
      },
    },
  });
  const clusterIds = runtime.topology.clusters.map((c) => c.id);
  const connectors: Connector[] = [];
  const delay = { ms: opts.readyDelayMs };
  try {
    for (const id of clusterIds) {
      const connector = new Connector({
        router: runtime.wsUrl,
        cluster: id,
        token: runtime.clusterTokens[id]!,
        config: parseConnectorConfig({
          services: [
            {
              name: 'api',
              ingress: { port: 0, host: '127.0.0.1' },
              upstream: `http://127.0.0.1:${upstreamPort}`,
            },
          ],
          requestDeadlineMs: 10_000,
        }),
        log: () => {},
      });
      delayChildReady(connector, delay);
      await connector.start();
      connectors.push(connector);
    }
    await waitFor('every connector to say hello', async () => {
      const res = await fetch(`${runtime.httpUrl}/v1/clusters`, {
        headers: { authorization: `Bearer ${runtime.developerToken}` },
      });
      const body = (await res.json()) as { clusters: { connected: boolean; services: string[] }[] };
      return body.clusters.every((c) => c.connected && c.services.length > 0);
    });
  } catch (err) {
    for (const c of connectors) await c.stop();
    await runtime.stop();
    upstream.close();
    await meter.stop();
    await apart?.stop();
    throw err;
  }
  return {
    runtime,
    clusterIds,
    connectors,
    meter,
    ingressUrl: `http://127.0.0.1:${connectors[0]!.ports.api}`,
    setColdRelay: ws.setCold,
    setReadyDelay(ms) {
      delay.ms = ms;
    },
    async stop() {
      for (const c of connectors) await c.stop();
      await runtime.stop();
      upstream.close();
      await meter.stop();
      await apart?.stop();
    },
  };
}

/** A meter that is not in the path: it counts nothing. */
function unmetered(): DynamoMeter {
  return { endpoint: '', target: undefined, snapshot: () => ({}), stop: async () => {} };
}

/** The cluster is `delay.ms` away: its child.ready reaches the router that much later. */
function delayChildReady(connector: Connector, delay: { ms: number }): void {
  const send = connector.send.bind(connector);
  connector.send = (msg) => {
    if (msg.type !== 'child.ready' || delay.ms <= 0) return send(msg);
    setTimeout(() => send(msg), delay.ms);
    return true;
  };
}
