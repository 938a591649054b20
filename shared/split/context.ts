import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Settings } from '../config/settings.ts';
import type { Topology } from '../config/topology.ts';
import type { Store } from '../store/store.ts';

/** The little logging the split core does; the Powertools Logger fits it. */
export interface SplitLogger {
  info(message: string, ...extra: Record<string, unknown>[]): void;
  warn(message: string, ...extra: Record<string, unknown>[]): void;
  error(message: string, ...extra: Record<string, unknown>[]): void;
}

/**
 * What the split core needs. Every dependency is passed in, so tests inject failures (a wrapped
 * SQS client that fails chosen batch entries) and the clock.
 */
export interface SplitContext {
  store: Store;
  /** The SQS client of the function's own region. */
  sqs: SQSClient;
  topology: Topology;
  settings: Settings;
  now: () => number;
  /**
   * A client for another region. Queues live in their cluster's region and a SigV4 request is
   * signed for one region, so creating the output queue in the default cluster's region or sending
   * to a queue URL of another region needs that region's client. Defaults to `sqs`.
   */
  sqsFor?: (region: string) => SQSClient;
  /**
   * The deployment stage (CDK context `stage`, `SWITCHYARD_STAGE` in a function): output queues
   * are named `switchyard-<stage>_...`, the prefix the stage's IAM scope covers. Defaults to
   * `DEFAULT_STAGE` (`local`, model.ts).
   */
  stage?: string;
  /**
   * The ARN of each queue the user owns in another account than the function's, by queue name
   * (CDK context `queueArns`, `SWITCHYARD_QUEUE_ARNS` in a function). A fallback queue's URL is
   * looked up in its owner's account; a queue without an entry is in the function's own account.
   */
  queueArns?: Readonly<Record<string, string>>;
  logger?: SplitLogger;
}

export function sqsIn(ctx: Pick<SplitContext, 'sqs' | 'sqsFor'>, region: string | undefined): SQSClient {
  return region && ctx.sqsFor ? ctx.sqsFor(region) : ctx.sqs;
}

/**
 * The region of a queue URL: `https://sqs.<region>.amazonaws.com/...`, the legacy
 * `https://<region>.queue.amazonaws.com/...`, and local emulators' `http://sqs.<region>.localhost:port/...`.
 */
export function regionOfQueueUrl(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  const m = /^sqs\.([a-z0-9-]+)\./.exec(host) ?? /^([a-z]{2}(?:-[a-z]+)+-\d)\.queue\./.exec(host);
  return m?.[1];
}

const silent: SplitLogger = { info() {}, warn() {}, error() {} };
export const loggerOf = (ctx: { logger?: SplitLogger | undefined }): SplitLogger => ctx.logger ?? silent;
