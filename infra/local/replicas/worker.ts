import { SQSClient } from '@aws-sdk/client-sqs';
import { parseSettings } from '../../../shared/config/settings.ts';
import { parseTopology } from '../../../shared/config/topology.ts';
import { LOCAL_CREDENTIALS } from '../credentials.ts';
import { consoleLog, type LocalLog } from '../log.ts';
import { type RouterProcess, startRouterProcess } from '../router-process.ts';
import { REPLICA_ENV, STOP, type WorkerConfig, WorkerConfigSchema, type WorkerMessage } from './protocol.ts';

/**
 * One router worker of `switchyard dev --replicas N`, forked by the primary (replicas/primary.ts)
 * with Node's cluster module: the HTTP API, the WebSocket gateway and its @connections API, the
 * SQS pollers and the reconciler schedule, on the port all workers share. The embedded DynamoDB
 * and SQS run in the primary; this process only has their endpoints.
 */

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function prefixed(log: LocalLog, prefix: string): LocalLog {
  return {
    info: (m) => log.info(`${prefix} ${m}`),
    warn: (m, err) => log.warn(`${prefix} ${m}`, err),
    error: (m, err) => log.error(`${prefix} ${m}`, err),
  };
}

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = WorkerConfigSchema.parse(JSON.parse(process.env[REPLICA_ENV] ?? ''));
  } catch (err) {
    send({ type: 'failed', code: 'invalid_replica_config', message: (err as Error).message });
    process.exit(1);
  }
  const log = prefixed(consoleLog, `[replica ${config.index}, pid ${process.pid}]`);

  // Ctrl-C reaches every process of the terminal's process group: the primary decides what
  // stops when (and restarts workers that die), so a worker only stops when told to.
  process.on('SIGINT', () => {});

  const clients = new Map<string, SQSClient>();
  const sqsClient = (region: string): SQSClient => {
    let c = clients.get(region);
    if (!c) {
      c = new SQSClient({ region, endpoint: config.sqsEndpoint, credentials: LOCAL_CREDENTIALS });
      clients.set(region, c);
    }
    return c;
  };

  let router: RouterProcess;
  try {
    router = await startRouterProcess({
      port: config.port,
      topology: parseTopology(config.topology, 'the topology'),
      settings: parseSettings(config.settings),
      region: config.region,
      tableName: config.tableName,
      dynamodbEndpoint: config.dynamodbEndpoint,
      sqsEndpoint: config.sqsEndpoint,
      queues: config.queues,
      sqsClient,
      poller: config.poller,
      gateway: config.gateway,
      log,
      replica: true,
    });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    send({
      type: 'failed',
      code: typeof e.code === 'string' ? e.code : 'replica_failed',
      message: typeof e.message === 'string' ? e.message : String(err),
    });
    process.exit(1);
  }

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void router
      .stop()
      .catch((err) => log.error('stopping failed', err))
      .finally(() => {
        for (const c of clients.values()) c.destroy();
        process.exit(0);
      });
  };
  process.on('message', (m: unknown) => {
    if ((m as { type?: unknown } | null)?.type === STOP.type) stop();
  });
  // A worker stopped on its own (kill <pid>) stops cleanly too; the primary starts a new one.
  process.on('SIGTERM', stop);

  send({ type: 'ready', pid: process.pid, port: router.port, privatePort: router.privatePort! });
}

await main();
