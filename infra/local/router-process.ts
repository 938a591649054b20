import type { Server } from 'node:http';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { deps, resetDeps } from '../../functions/lib/deps.ts';
import { ENV } from '../../functions/lib/env.ts';
import type { Settings } from '../../shared/config/settings.ts';
import type { Topology } from '../../shared/config/topology.ts';
import { processOwnerId } from '../../shared/lease/owner.ts';
import { RECONCILER_LEASE } from '../../shared/reconcile/reconciler.ts';
import { DEFAULT_STAGE } from '../../shared/split/model.ts';
import { keys } from '../../shared/store/keys.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import { connectionsApi, fastConnectionsPost } from './connections-api.ts';
import { GATEWAY_PREFIX, WS_PATH } from './defaults.ts';
import { setEnv } from './function-env.ts';
import { type FunctionHandlers, loadHandlers } from './handlers.ts';
import { type Fetch, listenHttp } from './http-server.ts';
import type { LocalLog } from './log.ts';
import { DEFAULT_POLLER_SETTINGS, type PollerSettings, startPoller } from './poller.ts';
import { replicaConnectionId, routedConnectionsApi } from './replicas/connection-routing.ts';
import { startScheduler } from './scheduler.ts';
import type { LocalQueue } from './sqs.ts';
import { undoStack } from './undo-stack.ts';
import { attachWebSocketGateway } from './websocket-gateway.ts';

/** Set on every HTTP answer of a replica: which worker process answered (debugging, tests). */
export const WORKER_HEADER = 'x-switchyard-worker';
/** A standby runs this long after the lease's stored expiry, so its acquire finds it expired. */
const WAKE_AFTER_EXPIRY_MS = 5;

export interface RouterProcessOptions {
  /** The shared HTTP and WebSocket port (0: a free one). */
  port: number;
  topology: Topology;
  settings: Settings;
  region: string;
  tableName: string;
  dynamodbEndpoint: string;
  sqsEndpoint: string;
  queues: LocalQueue[];
  /** SQS clients for the pollers, by region. */
  sqsClient(region: string): SQSClient;
  handlers?: Partial<FunctionHandlers> | undefined;
  poller?: Partial<PollerSettings> | undefined;
  gateway?: { idleTimeoutMs?: number; maxConnectionMs?: number } | undefined;
  log: LocalLog;
  /**
   * One of several workers behind the port (`--replicas`): connection ids carry this worker's
   * private port, @connections calls about other workers' connections are forwarded there, and
   * every HTTP answer names the worker.
   */
  replica?: boolean;
}

export interface RouterProcess {
  port: number;
  /** The @connections endpoint on the shared port. */
  managementEndpoint: string;
  /** A replica's private port (forwarded @connections calls); undefined otherwise. */
  privatePort: number | undefined;
  stop(): Promise<void>;
}

/**
 * The part of the local runtime that Lambda and API Gateway play on AWS: the HTTP API, the
 * WebSocket gateway with its @connections API, the SQS event source for the splitter and the
 * reconciler's schedule, all driving the handler files. The embedded DynamoDB and SQS run
 * elsewhere (`services.ts`); this part only needs their endpoints, so several processes can
 * run it side by side (replicas).
 *
 * It sets the function environment of this process (the handlers read `process.env`).
 */
export async function startRouterProcess(opts: RouterProcessOptions): Promise<RouterProcess> {
  const { log } = opts;
  const stops = undoStack(log, 'the local router');
  const unwind = stops.unwind;

  try {
    // Listen before the handlers load: the port goes into their environment. Nothing is
    // announced until the end, so no request arrives before `handlers` is set.
    let handlers: FunctionHandlers | undefined;
    const registry = new ConnectionRegistry();
    const localGateway = connectionsApi(registry, GATEWAY_PREFIX);
    let gatewayFetch: (request: Request) => Response | Promise<Response> = (r) => localGateway.fetch(r);
    const isGateway = (request: Request): boolean =>
      new URL(request.url).pathname.startsWith(`${GATEWAY_PREFIX}/`);

    let privatePort: number | undefined;
    if (opts.replica) {
      // Exclusive: in a cluster worker a plain listen would share one port among all workers.
      const privateServer = await listenHttp((request) => gatewayFetch(request), 0, { exclusive: true });
      privatePort = privateServer.port;
      stops.push(() => privateServer.close());
      const ownPort = privatePort;
      gatewayFetch = routedConnectionsApi({
        local: localGateway,
        ownPort,
        prefix: GATEWAY_PREFIX,
        pid: process.pid,
      });
    }

    const app: Fetch = async (request, env) => {
      if (isGateway(request)) return gatewayFetch(request);
      // An upgrade only gets here while the gateway is not attached (starting): retry later.
      if (!handlers || request.headers.get('upgrade')) return new Response('starting', { status: 503 });
      return handlers.http.fetch(request, env);
    };
    const http = await listenHttp(
      opts.replica ? namedWorker(app) : app,
      opts.port,
      // A replica's posts may be for another worker's connection: they take the routed API.
      opts.replica ? {} : { raw: fastConnectionsPost(registry, GATEWAY_PREFIX) },
    );
    const base = `127.0.0.1:${http.port}`;
    const managementEndpoint = `http://${base}${GATEWAY_PREFIX}`;

    stops.push(
      setEnv({
        [ENV.table]: opts.tableName,
        // The local runtime is the `local` stage: output queues `switchyard-local_<session>-<queue>`.
        [ENV.stage]: DEFAULT_STAGE,
        [ENV.topology]: JSON.stringify(opts.topology),
        [ENV.settings]: JSON.stringify(opts.settings),
        // A replica posts through its own private port: it answers for its own connections
        // without a hop, and forwards the others to their owner.
        [ENV.wsManagementEndpoint]:
          privatePort === undefined ? managementEndpoint : `http://127.0.0.1:${privatePort}${GATEWAY_PREFIX}`,
        [ENV.dynamodbEndpoint]: opts.dynamodbEndpoint,
        [ENV.sqsEndpoint]: opts.sqsEndpoint,
      }),
      // Closed while the function environment is still set: requests in flight may need it.
      () => http.close(),
    );
    // deps.ts builds its clients once per process: drop those of a runtime started earlier in
    // this process (a restart in a test), or handlers would talk to its stopped endpoints.
    resetDeps();
    handlers = await loadHandlers(opts.handlers);

    const ownPort = privatePort;
    const gateway = attachWebSocketGateway(http.server as Server, {
      path: WS_PATH,
      handler: handlers.ws,
      registry,
      region: opts.region,
      ...opts.gateway,
      ...(ownPort === undefined ? {} : { connectionId: () => replicaConnectionId(ownPort) }),
      log,
    });
    // Before the HTTP server closes: clients get a close frame and handlers their $disconnect.
    stops.push(() => gateway.close());

    const pollerSettings = { ...DEFAULT_POLLER_SETTINGS, ...opts.poller };
    for (const queue of opts.queues.filter((q) => q.role === 'source')) {
      const poller = startPoller({
        queue,
        client: opts.sqsClient(queue.region),
        handler: handlers.splitter,
        settings: pollerSettings,
        log,
      });
      stops.push(() => poller.stop());
    }

    const ownReconciler = !opts.handlers?.reconciler;
    if (ownReconciler) {
      // After the schedule stopped (no run holds it any more): give the lease up, so another
      // replica, or this runtime started again, takes the duties over at once.
      stops.push(async () => {
        const { release } = await import('../../functions/reconciler/index.ts');
        await release();
      });
    }
    const scheduler = startScheduler({
      everyMs: opts.settings.reconcileEveryMs,
      handler: handlers.reconciler,
      region: opts.region,
      log,
      ...(ownReconciler ? { wakeWithinMs: untilLeaseExpiry } : {}),
    });
    stops.push(() => scheduler.stop());

    let stopping: Promise<void> | undefined;
    return {
      port: http.port,
      managementEndpoint,
      privatePort,
      stop() {
        // Then drop the clients built from this environment (a runtime started later in this
        // process must not reuse them).
        stopping ??= unwind().then(() => resetDeps());
        return stopping;
      },
    };
  } catch (err) {
    await unwind();
    resetDeps();
    throw err;
  }
}

/**
 * How long until another process's reconciler lease expires: a standby runs right then instead
 * of at its next tick. Undefined when this process holds it (or nobody does): the schedule's
 * own period applies.
 */
async function untilLeaseExpiry(): Promise<number | undefined> {
  const item = await deps().store.get(keys.lease(RECONCILER_LEASE), { consistent: true });
  if (!item || item.owner === processOwnerId()) return undefined;
  const expiresAt = typeof item.expiresAt === 'number' ? item.expiresAt : 0;
  return expiresAt + WAKE_AFTER_EXPIRY_MS - Date.now();
}

/** Names the answering worker on every response. */
function namedWorker(app: Fetch): Fetch {
  return async (request, env) => {
    const res = await app(request, env);
    const headers = new Headers(res.headers);
    headers.set(WORKER_HEADER, String(process.pid));
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  };
}
