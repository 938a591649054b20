import { join, resolve } from 'node:path';
import type { Settings } from '../../shared/config/settings.ts';
import { clusterRegion, type Topology } from '../../shared/config/topology.ts';
import { restoreSplitQueues } from '../../shared/split/restore.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { resolveSettings, resolveTopology } from './config.ts';
import { LOCAL_CREDENTIALS } from './credentials.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { DEFAULT_DATA_DIR, DEFAULT_STATE_FILE, TABLE_NAME } from './defaults.ts';
import { startDynamoDb } from './dynamodb.ts';
import { setEnv } from './function-env.ts';
import { type LocalTokens, provisionLocalTokens } from './local-tokens.ts';
import type { LocalLog } from './log.ts';
import { type LocalQueue, type LocalSqs, startSqs } from './sqs.ts';
import { readSqsSnapshot, restoreSqsSnapshot, SQS_SNAPSHOT_FILE, saveSqsSnapshot } from './sqs-snapshot.ts';
import { readPreviousSqsPort, readPreviousTokens } from './state-file.ts';
import { undoStack } from './undo-stack.ts';

export interface LocalServicesOptions {
  configFile?: string | undefined;
  topology?: unknown;
  settingsFile?: string | undefined;
  settings?: unknown;
  dataDir?: string | undefined;
  memory?: boolean | undefined;
  stateFile?: string | false | undefined;
  /** A DynamoDB already running elsewhere (the benchmarks' dynalite in another process) instead of the embedded one. */
  dynamodbEndpoint?: string | undefined;
}

/** What the router processes share: the embedded DynamoDB and SQS, the tokens, the configuration. */
export interface LocalServices {
  topology: Topology;
  settings: Settings;
  region: string;
  tableName: string;
  /** null with --memory. */
  dataDir: string | null;
  stateFile: string | null;
  dynamodbEndpoint: string;
  sqs: LocalSqs;
  store: DynamoDbStore;
  queues: LocalQueue[];
  tokens: LocalTokens;
  stop(): Promise<void>;
}

/** What a router process needs to know of the shared services (also sent to replica workers). */
export function routerConfigOf(services: LocalServices) {
  return {
    topology: services.topology,
    settings: services.settings,
    region: services.region,
    tableName: services.tableName,
    dynamodbEndpoint: services.dynamodbEndpoint,
    sqsEndpoint: services.sqs.endpoint,
    queues: services.queues,
  };
}

/**
 * Starts what the router processes share: the data directory lock, dynalite (the table, kept
 * under the data dir) and fauxqs (on the port of the previous run when it is free, so queue URLs
 * stay the same), the configured queues, the local tokens, the output queues of live
 * sessions' splits (fauxqs lost them when it stopped; the table kept the splits), and the
 * messages saved at the last clean stop (sqs-snapshot.ts; saved again by `stop()`).
 *
 * Sets AWS_REGION and (unless set) dummy credentials in this process, for the SDK clients.
 * On failure everything started so far is stopped again.
 */
export async function startLocalServices(opts: LocalServicesOptions, log: LocalLog): Promise<LocalServices> {
  const topology = resolveTopology(opts);
  const settings = resolveSettings(opts);
  const region = topology.region;
  const tableName = TABLE_NAME;
  const dataDir = opts.memory ? null : resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const stateFile = opts.stateFile === false ? null : resolve(opts.stateFile ?? DEFAULT_STATE_FILE);

  const stops = undoStack(log, 'the local runtime');
  const unwind = stops.unwind;

  try {
    if (dataDir) {
      const lock = lockDataDir(dataDir);
      stops.push(() => lock.release());
    }
    // The messages the embedded SQS held at the last clean stop. Read before anything starts: a
    // file this version cannot read refuses the start and stays as it is.
    const snapshotFile = dataDir ? join(dataDir, SQS_SNAPSHOT_FILE) : null;
    const snapshot = snapshotFile ? readSqsSnapshot(snapshotFile) : undefined;
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
      startDynamoDb({
        path: dataDir ? resolve(dataDir, 'dynamodb') : undefined,
        region,
        tableName,
        endpoint: opts.dynamodbEndpoint,
      }),
      startSqs({ preferredPort: stateFile ? readPreviousSqsPort(stateFile) : undefined }),
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

    const restored = await restoreSplitQueues({
      store,
      sqs: sqs.client(region),
      sqsFor: (r) => sqs.client(r),
      topology,
      settings,
      now: Date.now,
      logger: {
        info: (m, ...extra) => log.info(withExtra(m, extra)),
        warn: (m, ...extra) => log.warn(withExtra(m, extra)),
        error: (m, ...extra) => log.error(withExtra(m, extra)),
      },
    });
    if (restored.restored > 0) {
      log.info(
        `created the output queues of ${restored.restored} active split${restored.restored === 1 ? '' : 's'} again`,
      );
    }
    for (const id of restored.moved)
      log.warn(`split ${id}: its output queue has a new URL (the SQS port changed)`);

    if (snapshotFile) {
      // Now that the queues exist again, and before anything receives from them.
      const carried = snapshot
        ? (await restoreSqsSnapshot({ sqs, snapshot, file: snapshotFile, log })).left
        : [];
      const regions = [...new Set([region, ...topology.clusters.map((c) => clusterRegion(topology, c))])];
      // The first thing `stop()` does here, while fauxqs still runs; the routers (their pollers,
      // the replicas' workers) are stopped before the services, so nothing of the runtime
      // receives any more. Also runs when the start fails after this point.
      stops.push(async () => {
        await saveSqsSnapshot({ sqs, regions, file: snapshotFile, carried, log });
      });
    }

    return {
      topology,
      settings,
      region,
      tableName,
      dataDir,
      stateFile,
      dynamodbEndpoint: dynamo.endpoint,
      sqs,
      store,
      queues,
      tokens,
      stop: unwind,
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

const withExtra = (message: string, extra: Record<string, unknown>[]): string =>
  extra.length ? `${message} ${extra.map((e) => JSON.stringify(e)).join(' ')}` : message;
