import { ValidationError } from '../../../shared/errors/errors.ts';
import { DEFAULT_PORT, GATEWAY_PREFIX } from '../defaults.ts';
import { consoleLog } from '../log.ts';
import { announce, describeRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../runtime.ts';
import { routerConfigOf, startLocalServices } from '../services.ts';
import { type ReplicaInfo, Supervisor } from './supervisor.ts';

export const MAX_REPLICAS = 32;

export interface ReplicatedRuntimeOptions extends Omit<LocalRuntimeOptions, 'handlers'> {
  /** How many router workers share the port (1 to 32). */
  replicas: number;
}

export interface ReplicatedRuntime extends LocalRuntime {
  replicas: number;
  /** The workers serving now (pids change when a worker is started again). */
  workers(): ReplicaInfo[];
}

/**
 * `switchyard dev --replicas N`: this process (the primary) runs the embedded DynamoDB and SQS
 * once, writes local.json, and keeps N router workers (replicas/worker.ts) behind one port with
 * Node's cluster module. Every worker serves HTTP and WebSocket connections, polls the source
 * queues (SQS gives each message to one receiver) and runs the reconciler schedule, whose lease
 * makes exactly one of them the leader. A worker that dies is started again; the connections it
 * held reconnect to the others (same URL) and resume by session id.
 *
 * Handlers cannot be replaced here: the workers load the handler files themselves.
 */
export async function startReplicatedRuntime(options: ReplicatedRuntimeOptions): Promise<ReplicatedRuntime> {
  const { replicas } = options;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) {
    throw new ValidationError(`--replicas must be a whole number from 1 to ${MAX_REPLICAS}`);
  }
  const began = performance.now();
  const log = options.log ?? consoleLog;
  const services = await startLocalServices(options, log);
  const supervisor = new Supervisor({
    replicas,
    port: options.port ?? DEFAULT_PORT,
    log,
    config: {
      // As JSON: the workers parse it again (the primary already refused an invalid one).
      ...routerConfigOf(services),
      ...(options.poller ? { poller: options.poller } : {}),
      ...(options.gateway ? { gateway: options.gateway } : {}),
    },
  });
  try {
    const port = await supervisor.start();
    const runtime = describeRuntime(
      services,
      port,
      `http://127.0.0.1:${port}${GATEWAY_PREFIX}`,
      async () => {
        // Workers first: their $disconnect handlers and lease release still need the table.
        await supervisor.stop();
        await services.stop();
      },
      options.hooks,
    );
    const replicated = Object.assign(runtime, { replicas, workers: () => supervisor.workers() });
    await announce(replicated, options, services, began, { replicas });
    return replicated;
  } catch (err) {
    await supervisor.stop();
    await services.stop();
    throw err;
  }
}
