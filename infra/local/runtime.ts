import type { Settings } from '../../shared/config/settings.ts';
import type { Topology } from '../../shared/config/topology.ts';
import { DEFAULT_PORT, WS_PATH } from './defaults.ts';
import type { FunctionHandlers } from './handlers.ts';
import { consoleLog, type LocalLog } from './log.ts';
import type { PollerSettings } from './poller.ts';
import { startRouterProcess } from './router-process.ts';
import { type LocalServices, routerConfigOf, startLocalServices } from './services.ts';
import type { LocalQueue } from './sqs.ts';
import { type LocalState, writeLocalState } from './state-file.ts';

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
  /** A DynamoDB already running elsewhere instead of the embedded dynalite (benchmarks: dynalite in its own process). */
  dynamodbEndpoint?: string;
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
 * `stop()` stops the router part first (the pollers receive nothing any more), then the shared
 * services: with a data dir, they first save every SQS message there, and the next start sends
 * them back (sqs-snapshot.ts).
 *
 * The handlers read `process.env` (functions/lib/env.ts), which is process-wide: run one
 * runtime per process at a time. On failure everything started so far is stopped again.
 * (`--replicas` runs the router part in several processes instead: see replicas/primary.ts.)
 */
export async function startLocalRuntime(options: LocalRuntimeOptions = {}): Promise<LocalRuntime> {
  const began = performance.now();
  const log = options.log ?? consoleLog;
  const services = await startLocalServices(options, log);
  let router: Awaited<ReturnType<typeof startRouterProcess>> | undefined;
  try {
    router = await startRouterProcess({
      port: options.port ?? DEFAULT_PORT,
      ...routerConfigOf(services),
      sqsClient: (region) => services.sqs.client(region),
      handlers: options.handlers,
      poller: options.poller,
      gateway: options.gateway,
      log,
    });
    const runtime = describeRuntime(
      services,
      router.port,
      router.managementEndpoint,
      async () => {
        await router?.stop();
        await services.stop();
      },
      options.hooks,
    );
    return await announce(runtime, options, services, began);
  } catch (err) {
    // The router (its pollers) first: the services' stop saves the queues' messages, and nothing
    // may receive from them meanwhile.
    await router?.stop();
    await services.stop();
    throw err;
  }
}

/** The runtime's public face, for a router listening on `port`; its `stop()` runs the onStopping hook, then `stopParts`, once. */
export function describeRuntime(
  services: LocalServices,
  port: number,
  managementEndpoint: string,
  stopParts: () => Promise<void>,
  hooks?: LocalRuntimeOptions['hooks'],
): LocalRuntime {
  const base = `127.0.0.1:${port}`;
  let stopping: Promise<void> | undefined;
  const runtime: LocalRuntime = {
    httpUrl: `http://${base}`,
    wsUrl: `ws://${base}${WS_PATH}`,
    managementEndpoint,
    sqsEndpoint: services.sqs.endpoint,
    dynamodbEndpoint: services.dynamodbEndpoint,
    region: services.region,
    tableName: services.tableName,
    developerToken: services.tokens.developerToken,
    clusterTokens: services.tokens.clusterTokens,
    topology: services.topology,
    settings: services.settings,
    queues: services.queues,
    dataDir: services.dataDir,
    stateFile: services.stateFile,
    startupMs: 0,
    stop() {
      stopping ??= (async () => {
        await hooks?.onStopping?.(runtime);
        await stopParts();
      })();
      return stopping;
    },
  };
  return runtime;
}

/** Writes local.json, runs the onStarted hook, and records the start-up time. */
export async function announce(
  runtime: LocalRuntime,
  options: Pick<LocalRuntimeOptions, 'hooks'>,
  services: Pick<LocalServices, 'tokens'>,
  began: number,
  extra: Pick<LocalState, 'replicas'> = {},
): Promise<LocalRuntime> {
  if (runtime.stateFile) {
    writeLocalState(runtime.stateFile, {
      httpUrl: runtime.httpUrl,
      wsUrl: runtime.wsUrl,
      managementEndpoint: runtime.managementEndpoint,
      region: runtime.region,
      sqs: {
        endpoint: runtime.sqsEndpoint,
        queues: Object.fromEntries(runtime.queues.map((q) => [q.queueName, q.url])),
      },
      dynamodb: { endpoint: runtime.dynamodbEndpoint, table: runtime.tableName },
      developerToken: services.tokens.developerToken,
      clusters: Object.fromEntries(
        Object.entries(services.tokens.clusterTokens).map(([id, token]) => [id, { token }]),
      ),
      pid: process.pid,
      startedAt: new Date().toISOString(),
      dataDir: runtime.dataDir,
      ...extra,
    });
  }
  await options.hooks?.onStarted?.(runtime);
  runtime.startupMs = Math.round(performance.now() - began);
  return runtime;
}
