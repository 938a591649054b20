import type { DynamoApi, DynamoOutput } from '../../shared/store/dynamodb/dynamo-api.ts';
import { type SignedAnswer, signedHttp } from './signed-http.ts';
import type { Credentials } from './sigv4.ts';

/**
 * DynamoDB's JSON protocol, reduced to what the store calls: one signed POST per operation on a
 * kept-alive socket (signed-http.ts). Measured against the SDK's client on the same calls, it
 * costs about a third of the CPU per call (bench/results/routing.md): the router makes these
 * calls on every session change and every cold routed message. Marshalling stays with the store
 * (the SDK's own `@aws-sdk/util-dynamodb`).
 */
export interface SignedDynamoOptions {
  /** Default: DynamoDB's regional endpoint. */
  endpoint?: string;
  region: string;
  credentials: () => Promise<Credentials & { expiration?: Date }>;
  now?: () => Date;
  /** Attempts in all for throttling, 5xx and connection failures (default 3, as the SDK's). */
  maxAttempts?: number;
  /** A call with no answer after this long is cut and counts as a failed attempt. */
  timeoutMs?: number;
}

/** A refusal from DynamoDB: `name` is its error type, as the SDK's exceptions are named. */
export class DynamoDbError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = type;
  }
}

/** As the SDK classifies DynamoDB's answers: these are worth another attempt after a wait. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
  'TransactionInProgressException',
]);
const TRANSIENT = new Set(['RequestTimeout', 'RequestTimeoutException', 'InternalServerError']);

/** The error type: `x-amzn-errortype`, else the body's `__type` after its `#`. */
function errorOf(answer: SignedAnswer): { type: string; message: string } {
  let parsed: { __type?: string; message?: string; Message?: string } = {};
  try {
    parsed = JSON.parse(answer.body) as typeof parsed;
  } catch {}
  const type = answer.type || (parsed.__type ?? '').split('#').pop() || `Http${answer.status}`;
  return { type, message: parsed.message ?? parsed.Message ?? (answer.body || `HTTP ${answer.status}`) };
}

function retryable(answer: SignedAnswer): boolean {
  if (answer.status >= 500) return true;
  if (answer.status !== 400 && answer.status !== 429) return false;
  const { type } = errorOf(answer);
  return THROTTLING.has(type) || TRANSIENT.has(type);
}

/** The SDK's standard backoff: full jitter over 100 ms × 2^n, 500 ms × 2^n when throttled. */
function backoffMs(attempt: number, answer: SignedAnswer): number {
  const base = THROTTLING.has(errorOf(answer).type) ? 500 : 100;
  return Math.floor(Math.random() * Math.min(20_000, base * 2 ** (attempt - 1)));
}

export function regionalEndpoint(region: string): string {
  return `https://dynamodb.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

export function signedDynamo(opts: SignedDynamoOptions): DynamoApi {
  const http = signedHttp({
    endpoint: opts.endpoint ?? regionalEndpoint(opts.region),
    region: opts.region,
    service: 'dynamodb',
    credentials: opts.credentials,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.maxAttempts ? { maxAttempts: opts.maxAttempts } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    retryable,
    backoffMs,
  });
  return {
    async call(operation, input) {
      const answer = await http.send({
        method: 'POST',
        path: '/',
        body: Buffer.from(JSON.stringify(input)),
        signed: {
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': `DynamoDB_20120810.${operation}`,
        },
      });
      if (answer.status === 200) return JSON.parse(answer.body) as DynamoOutput;
      const { type, message } = errorOf(answer);
      throw new DynamoDbError(type, answer.status, message);
    },
  };
}
