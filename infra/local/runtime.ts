import { resolve } from 'node:path';
import { resetDeps } from '../../functions/lib/deps.ts';
import { ENV } from '../../functions/lib/env.ts';
import type { Settings } from '../../shared/config/settings.ts';
import type { Topology } from '../../shared/config/topology.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { resolveSettings, resolveTopology } from './config.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import { connectionsApi } from './connections-api.ts';
import { LOCAL_CREDENTIALS } from './credentials.ts';
import { lockDataDir } from './data-dir-lock.ts';
import {
  DEFAULT_DATA_DIR,
  DEFAULT_PORT,
  DEFAULT_STATE_FILE,
  GATEWAY_PREFIX,
  TABLE_NAME,
  WS_PATH,
} from './defaults.ts';
import { startDynamoDb } from './dynamodb.ts';
import { setEnv } from './function-env.ts';
import { type FunctionHandlers, loadHandlers } from './handlers.ts';
import { listenHttp } from './http-server.ts';
import { provisionLocalTokens } from './local-tokens.ts';
import { consoleLog, type LocalLog } from './log.ts';
import { DEFAULT_POLLER_SETTINGS, type PollerSettings, startPoller } from './poller.ts';
import { startScheduler } from './scheduler.ts';
import { type LocalQueue, startSqs } from './sqs.ts';
import { readPreviousTokens, writeLocalState } from './state-file.ts';
import { attachWebSocketGateway } from './websocket-gateway.ts';

export interface LocalRuntimeOptions {
  /** Topology file (default `switchyard.config.json` in the working directory). */
  configFile?: string;
  /** A topology object instead of a file (tests, embedding). */
  topology?: unknown;
  /** Router settings file (JSON); `settings` gives them as an object instead. */
  settingsFile?: string;
  settings?: unknown;
  /** HTTP and WebSocket port on 127.0.0.1 (default 8787; 0 picks a free one). */
  port?: number;
  /** Keeps the table under `<dataDir>/dynamodb` (default `.switchyard/data`). */
  dataDir?: string;
  /** Throwaway state: the table lives in memory. */
  memory?: boolean;
  /** Where to write local.json (default `.switchyard/local.json`); false writes none. */
  stateFile?: string | false;
  /** Replace the handler files (tests; later features). */
  handlers?: Partial<FunctionHandlers>;
  poller?: Partial<PollerSettings>;
  /** The gateway's idle and lifetime limits (default API Gateway's 10 min and 2 h). */
  gateway?: { idleTimeoutMs?: number; maxConnectionMs?: number };
  log?: LocalLog;
  /** Extension points for features built on the runtime (demo clusters, replicas). */
  hooks?: {
    onStarted?(runtime: LocalRuntime): void | Promise<void>;
    onStopping?(runtime: LocalRuntime): void | Promise<void>;
  };
}

export interface LocalRuntime {
  httpUrl: string;
  wsUrl: string;
  /** The @connections endpoint (what SWITCHYARD_WS_ENDPOINT holds). */
  managementEndpoint: string;
  sqsEndpoint: string;
  dynamodbEndpoint: string;
  region: string;
  tableName: string;
  developerToken: string;
  clusterTokens: Record<string, string>;
  topology: Topology;
  settings: Settings;
  queues: LocalQueue[];
  /** null with --memory. */
  dataDir: string | null;
  stateFile: string | null;
  /** Milliseconds from the call to ready. */
  startupMs: number;
  stop(): Promise<void>;
}

/**
 * Starts the router on this machine: embedded DynamoDB (dynalite) and SQS (fauxqs), the HTTP
 * API, the API Gateway WebSocket emulation with its @connections API, the SQS event source
 * for the splitter and the reconciler schedule, all driving the same handler files as Lambda.
 *
 * The handlers read `process.env` (functions/lib/env.ts), which is process-wide: run one
 * runtime per process at a time. On failure everything started so far is stopped again.
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const began = performance.now();
  const log = options.log ?? consoleLog;
  const topology = resolveTopology(options);
  const settings = resolveSettings(options);
  const region = topology.region;
  const tableName = TABLE_NAME;
  const dataDir = options.memory ? null : resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const stateFile = options.stateFile === false ? null : resolve(options.stateFile ?? DEFAULT_STATE_FILE);

  // Undo stack: every part that started registers how to stop, in reverse order.
  const stops: (() => void | Promise<void>)[] = [];
  const unwind = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch (err) {
        log.warn('stopping a part of the local runtime failed', err);
      }
    }
    stops.length = 0;
  };

  try {
    if (dataDir) {
      const lock = lockDataDir(dataDir);
      stops.push(() => lock.release());
    }
    // Region and credentials first: the SDK clients built from here on read them.
    stops.push(
      setEnv({
        AWS_REGION: region,
        ...(process.env.AWS_ACCESS_KEY_ID
          ? {}
          : {
              AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
              AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
            }),
      }),
    );

    const [dynamo, sqs] = await Promise.all([
      startDynamoDb({ path: dataDir ? resolve(dataDir, 'dynamodb') : undefined, region, tableName }),
      startSqs(),
    ]);
    stops.push(
      () => dynamo.stop(),
      () => sqs.stop(),
    );
    const queues = await sqs.ensureQueues(topology);

    const store = new DynamoDbStore(dynamo.client, tableName);
    const tokens = await provisionLocalTokens(
      store,
      topology,
      stateFile ? readPreviousTokens(stateFile) : {},
    );

    // Listen before the handlers load: the port goes into their environment. Nothing is
    // announced until the end, so no request arrives before `handlers` is set.
    let handlers: FunctionHandlers | undefined;
    const registry = new ConnectionRegistry();
    const gatewayApi = connectionsApi(registry, GATEWAY_PREFIX);
    const http = await listenHttp(async (request, env) => {
      if (new URL(request.url).pathname.startsWith(`${GATEWAY_PREFIX}/`)) return gatewayApi.fetch(request);
      if (!handlers) return new Response('starting', { status: 503 });
      return handlers.http.fetch(request, env);
    }, options.port ?? DEFAULT_PORT);
    const base = `127.0.0.1:${http.port}`;
    const managementEndpoint = `http://${base}${GATEWAY_PREFIX}`;

    stops.push(
      setEnv({
        [ENV.table]: tableName,
        [ENV.topology]: JSON.stringify(topology),
        [ENV.settings]: JSON.stringify(settings),
        [ENV.wsManagementEndpoint]: managementEndpoint,
        [ENV.dynamodbEndpoint]: dynamo.endpoint,
        [ENV.sqsEndpoint]: sqs.endpoint,
      }),
      // Closed while the function environment is still set: requests in flight may need it.
      () => http.close(),
    );
    // deps.ts builds its clients once per process: drop those of a runtime started earlier in
    // this process (a restart in a test), or handlers would talk to its stopped endpoints.
    resetDeps();
    handlers = await loadHandlers(options.handlers);

    const gateway = attachWebSocketGateway(http.server, {
      path: WS_PATH,
      handler: handlers.ws,
      registry,
      region,
      ...options.gateway,
      log,
    });
    // Before the HTTP server closes: clients get a close frame and handlers their $disconnect.
    stops.push(() => gateway.close());

    const pollerSettings = { ...DEFAULT_POLLER_SETTINGS, ...options.poller };
    for (const queue of queues.filter((q) => q.role === 'source')) {
      const poller = startPoller({
        queue,
        client: sqs.client(queue.region),
        handler: handlers.splitter,
        settings: pollerSettings,
        log,
      });
      stops.push(() => poller.stop());
    }
    const scheduler = startScheduler({
      everyMs: settings.reconcileEveryMs,
      handler: handlers.reconciler,
      region,
      log,
    });
    stops.push(() => scheduler.stop());

    let stopping: Promise<void> | undefined;
    const runtime: LocalRuntime = {
      httpUrl: `http://${base}`,
      wsUrl: `ws://${base}${WS_PATH}`,
      managementEndpoint,
      sqsEndpoint: sqs.endpoint,
      dynamodbEndpoint: dynamo.endpoint,
      region,
      tableName,
      developerToken: tokens.developerToken,
      clusterTokens: tokens.clusterTokens,
      topology,
      settings,
      queues,
      dataDir,
      stateFile,
      startupMs: 0,
      stop() {
        stopping ??= (async () => {
          await options.hooks?.onStopping?.(runtime);
          await unwind();
          resetDeps();
        })();
        return stopping;
      },
    };

    if (stateFile) {
      writeLocalState(stateFile, {
        httpUrl: runtime.httpUrl,
        wsUrl: runtime.wsUrl,
        managementEndpoint,
        region,
        sqs: { endpoint: sqs.endpoint, queues: Object.fromEntries(queues.map((q) => [q.queueName, q.url])) },
        dynamodb: { endpoint: dynamo.endpoint, table: tableName },
        developerToken: tokens.developerToken,
        clusters: Object.fromEntries(
          Object.entries(tokens.clusterTokens).map(([id, token]) => [id, { token }]),
        ),
        pid: process.pid,
        startedAt: new Date().toISOString(),
        dataDir,
      });
    }
    await options.hooks?.onStarted?.(runtime);
    runtime.startupMs = Math.round(performance.now() - began);
    return runtime;
  } catch (err) {
    await unwind();
    throw err;
  }
}
