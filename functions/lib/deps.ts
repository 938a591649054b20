import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { parseSettings, type Settings } from '../../shared/config/settings.ts';
import { parseTopology, type Topology } from '../../shared/config/topology.ts';
import { DEFAULT_STAGE, STAGE_PATTERN } from '../../shared/split/model.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { signedDynamo } from './dynamodb-client.ts';
import { ENV } from './env.ts';
import type { Credentials } from './sigv4.ts';

/** What every handler needs, built once per process from the environment (see env.ts). */
export interface Deps {
  store: Store;
  topology: Topology;
  settings: Settings;
  /** The deployment stage (`SWITCHYARD_STAGE`, default `local`): it names the output queues. */
  stage: string;
  sqs: SQSClient;
  /** An SQS client for another region (queues live in their cluster's region; requests are signed per region). */
  sqsFor: (region: string) => SQSClient;
  /** The function's own region. */
  region: string;
  /**
   * The function's AWS credentials, for the lean signed clients (DynamoDB here, `@connections` in
   * session-deps.ts): the SDK's provider chain, memoized and refreshed before expiry.
   */
  credentials: () => Promise<Credentials & { expiration?: Date }>;
  /**
   * The WebSocket management endpoint (SWITCHYARD_WS_ENDPOINT) for functions that post to
   * connections (session-deps.ts builds that client). The splitter posts nothing and has none, so
   * it never loads the API Gateway client.
   */
  wsManagementEndpoint: string | undefined;
  now: () => number;
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const v = env[name];
  if (!v) throw new Error(`environment variable ${name} is not set`);
  return v;
}

function stageOf(env: NodeJS.ProcessEnv): string {
  const stage = env[ENV.stage] || DEFAULT_STAGE;
  if (!STAGE_PATTERN.test(stage)) {
    throw new Error(
      `environment variable ${ENV.stage} is '${stage}': a stage is lowercase letters, digits and "-", starting with a letter, at most 20 characters`,
    );
  }
  return stage;
}

export function depsFromEnv(env: NodeJS.ProcessEnv = process.env): Deps {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const dynamodbEndpoint = env[ENV.dynamodbEndpoint];
  const sqsEndpoint = env[ENV.sqsEndpoint];
  const sqsClients = new Map<string, SQSClient>();
  const sqsFor = (r: string): SQSClient => {
    let client = sqsClients.get(r);
    if (!client) {
      client = new SQSClient({ region: r, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) });
      sqsClients.set(r, client);
    }
    return client;
  };
  const tableRegion = env[ENV.tableRegion] ?? region;
  // This SDK client only resolves credentials (its provider chain, memoized and refreshed before
  // expiry) for every lean client of the instance; the store's calls go through one of them.
  const sdk = new DynamoDBClient({ region: tableRegion });
  const credentials = () => sdk.config.credentials();
  // Bounded attempts and a request timeout: a retry must not land long after the lease check that
  // allowed the write (docs/lease.md), and a hung call must not hold a Lambda until its timeout.
  const dynamo = signedDynamo({
    region: tableRegion,
    credentials,
    maxAttempts: 3,
    timeoutMs: 2_000,
    ...(dynamodbEndpoint ? { endpoint: dynamodbEndpoint } : {}),
  });
  return {
    store: new DynamoDbStore(dynamo, required(env, ENV.table)),
    topology: parseTopology(JSON.parse(required(env, ENV.topology)), ENV.topology),
    settings: parseSettings(env[ENV.settings] ? JSON.parse(env[ENV.settings]!) : {}),
    stage: stageOf(env),
    sqs: sqsFor(region),
    sqsFor,
    region,
    credentials,
    wsManagementEndpoint: env[ENV.wsManagementEndpoint] || undefined,
    now: Date.now,
  };
}

let cached: Deps | undefined;
const resetHooks: (() => void)[] = [];

/** Lazily built, so importing a handler file has no side effects (tests, the CDK entry check). */
export function deps(): Deps {
  cached ??= depsFromEnv();
  return cached;
}

/** Per-process state built on deps registers here to be dropped with it. */
export function onResetDeps(hook: () => void): void {
  resetHooks.push(hook);
}

/**
 * Forget everything built from the environment. The local runtime calls it when it starts, so a
 * runtime started after another in the same process never talks to the old one's endpoints.
 */
export function resetDeps(): void {
  cached = undefined;
  for (const hook of resetHooks) hook();
}
