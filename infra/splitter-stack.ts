import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, type StackProps, Token } from 'aws-cdk-lib';
import { AccountPrincipal } from 'aws-cdk-lib/aws-iam';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type IQueue, Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { clusterRegion, defaultCluster, type Topology } from '../shared/config/topology.ts';
import { ALARM_PERIOD, Alarms, queueMetric } from './constructs/alarms.ts';
import { functionEnvironment } from './constructs/function-environment.ts';
import { HandlerFunction } from './constructs/handler-function.ts';
import { acknowledge, NAG_REASONS } from './constructs/nag.ts';
import {
  KMS_RECEIVE_ACTIONS,
  KMS_SEND_ACTIONS,
  kmsAccess,
  outputQueuesArn,
  queueArn,
  sendAccess,
} from './constructs/queue-access.ts';
import { storeSplitterAccess, tableArnsOf } from './constructs/state-table.ts';
import type { DeployContext } from './deploy-context.ts';
import { DeploymentConfigError } from './errors.ts';
import { parseQueueArn } from './queue-facts.ts';
import { OWNED_QUEUE_PREFIX, type SourceQueue } from './splitter-plan.ts';

/** SQS caps a FIFO event source at 10 messages per batch, without a batching window. */
const FIFO_MAX_BATCH = 10;
/** A message that fails this often on a fallback queue goes where the source queue's failures go. */
export const FALLBACK_MAX_RECEIVE_COUNT = 5;
/** Used for a fallback queue when the source queue's visibility timeout is not configured. */
const DEFAULT_FALLBACK_VISIBILITY_SECS = 30;
/** The synth warning for a source queue of another account, whose queue alarms this stack cannot hold. */
export const QUEUE_IN_ANOTHER_ACCOUNT_WARNING = 'switchyard:sourceQueueInAnotherAccount';

export interface SplitterStackProps extends StackProps {
  topology: Topology;
  ctx: DeployContext;
  /** The source queues of this stack's region (splitter-plan.ts). */
  queues: SourceQueue[];
  /** The router's table, addressed by name: it may live in another region. */
  tableName: string;
  tableRegion: string;
}

/**
 * The splitter of one region: one function, triggered by every source queue of the clusters in
 * that region, that forwards each message to a session's output queue or to the fallback queue.
 */
export class SplitterStack extends Stack {
  readonly splitter: HandlerFunction;
  /** Fallback queue by source queue name. */
  readonly fallbacks = new Map<string, IQueue>();

  constructor(scope: Construct, id: string, props: SplitterStackProps) {
    super(scope, id, props);
    const { topology, ctx, queues } = props;
    const region = this.region;

    this.splitter = new HandlerFunction(this, 'Splitter', {
      handler: 'splitter',
      bundleAwsSdk: ctx.bundleAwsSdk,
      description: `Switchyard queue splitter (${region})`,
      timeout: Duration.seconds(ctx.splitterTimeoutSecs),
      memorySize: ctx.splitterMemoryMb,
      environment: functionEnvironment({
        topology,
        ctx,
        tableName: props.tableName,
        tableRegion: props.tableRegion,
        account: this.account,
      }),
      logRetention: ctx.logRetentionDays,
    });
    const tableArn = this.formatArn({
      service: 'dynamodb',
      region: props.tableRegion,
      resource: 'table',
      resourceName: props.tableName,
    });
    for (const s of storeSplitterAccess(tableArnsOf(tableArn))) this.splitter.allow(s);

    const alarms = new Alarms(this, 'Alarms', {
      ...(ctx.alarmTopicName ? { topicName: ctx.alarmTopicName } : {}),
    });
    this.checkDeadLetterQueues(queues);
    const fallbackArns: string[] = [];
    for (const s of queues) {
      // The user's queues by the ARN of context queueArns when they live in another account,
      // else in this stack's account.
      const source = Queue.fromQueueArn(
        this,
        `Source-${s.queue.source}`,
        s.facts.arn ?? queueArn(this, region, s.queue.source),
      );
      this.splitter.fn.addEventSource(new SqsEventSource(source, this.eventSourceOptions(s, ctx)));
      const fallbackArn = s.facts.fallbackArn ?? queueArn(this, region, s.queue.fallback);
      fallbackArns.push(fallbackArn);
      if (s.createsFallback) {
        const fallback = this.createFallback(s);
        // The cluster's consumer runs with the source queue's account: let that account read the
        // fallback (its own IAM then decides which of its roles may).
        const owner = this.otherAccount(s.facts.arn);
        if (owner !== undefined) fallback.grantConsumeMessages(new AccountPrincipal(owner));
        this.fallbacks.set(s.queue.source, fallback);
      } else {
        this.fallbacks.set(
          s.queue.source,
          Queue.fromQueueArn(this, `Fallback-${s.queue.fallback}`, fallbackArn),
        );
      }
      this.addQueueAlarms(alarms, s, source, ctx.queueAgeAlarmSecs);
    }

    // Matches go to this stage's output queues, which the router creates in the default cluster's
    // region; the rest to the fallbacks of this region's queues, each by its exact ARN.
    const outputRegion = clusterRegion(topology, defaultCluster(topology));
    this.splitter.allow(
      sendAccess([outputQueuesArn(this, outputRegion, ctx.stage), ...fallbackArns]),
      NAG_REASONS.outputQueuesWildcard,
    );
    // SSE-KMS queues of the user (context queueKmsKeys): the event source mapping receives with
    // the function's role, so it decrypts; sending to a fallback encrypts with its key.
    const grants = [
      ...kmsAccess(
        KMS_RECEIVE_ACTIONS,
        queues.flatMap((s) => (s.facts.kmsKey ? [s.facts.kmsKey] : [])),
      ),
      ...kmsAccess(
        KMS_SEND_ACTIONS,
        queues.flatMap((s) => (s.facts.fallbackKmsKey ? [s.facts.fallbackKmsKey] : [])),
      ),
    ];
    for (const grant of grants) {
      this.splitter.allow(grant.statement, grant.viaAlias ? NAG_REASONS.kmsAliasKeys : undefined);
    }

    const every = { period: ALARM_PERIOD, statistic: 'Sum' };
    alarms.add(
      'SplitterErrors',
      this.splitter.fn.metricErrors(every),
      1,
      `the splitter in ${region} threw (a bug or a timeout)`,
    );
    alarms.add(
      'SplitterThrottles',
      this.splitter.fn.metricThrottles(every),
      1,
      `the splitter in ${region} was throttled: raise the account's concurrency or lower splitterMaxConcurrency`,
    );
  }

  /**
   * The age of a source queue's oldest message, and the depth of its dead-letter queue. SQS
   * publishes a queue's metrics in the queue owner's account, where this stack's alarms cannot see
   * them: a queue of another account gets none here, and a synth warning says so.
   */
  private addQueueAlarms(alarms: Alarms, s: SourceQueue, source: IQueue, ageAlarmSecs: number): void {
    const owner = this.otherAccount(s.facts.arn);
    if (owner !== undefined) {
      const dlq = s.facts.deadLetterQueue
        ? ` and no depth alarm for its dead-letter queue ${s.facts.deadLetterQueue}`
        : '';
      Annotations.of(source).addWarningV2(
        QUEUE_IN_ANOTHER_ACCOUNT_WARNING,
        `source queue ${s.queue.source} (cluster ${s.cluster.id}) is in account ${owner}, where SQS publishes its CloudWatch metrics: this stack creates no ApproximateAgeOfOldestMessage alarm for it${dlq}. Set the queue's alarms up in account ${owner} (docs/deploy.md, "Queues in another account").`,
      );
      return;
    }
    alarms.add(
      `OldestMessage-${s.queue.source}`,
      queueMetric(s.queue.source, 'ApproximateAgeOfOldestMessage', 'Maximum'),
      ageAlarmSecs,
      `source queue ${s.queue.source} (cluster ${s.cluster.id}) holds a message older than ${ageAlarmSecs} s: is the splitter failing or throttled?`,
    );
    if (s.facts.deadLetterQueue) {
      alarms.add(
        `DeadLetters-${s.queue.source}`,
        queueMetric(s.facts.deadLetterQueue, 'ApproximateNumberOfMessagesVisible', 'Maximum'),
        1,
        `dead-letter queue ${s.facts.deadLetterQueue} of ${s.queue.source} (cluster ${s.cluster.id}) holds messages`,
      );
    }
  }

  /**
   * The account of a queue ARN from context `queueArns`, when it is not this stack's; undefined
   * for a queue in this account. A stack without an account (neither context `account` nor
   * CDK_DEFAULT_ACCOUNT) takes an ARN as another account's: that is what the entry is for.
   */
  private otherAccount(arn: string | undefined): string | undefined {
    if (arn === undefined) return undefined;
    const { account } = parseQueueArn(arn);
    return Token.isUnresolved(this.account) || account !== this.account ? account : undefined;
  }

  /**
   * A source queue's dead-letter queue is in the source queue's account (SQS requires it), and a
   * queue redrives only to a queue of its own account: a fallback this stack creates cannot use
   * the dead-letter queue of a source queue in another account. Refused, every queue at once.
   */
  private checkDeadLetterQueues(queues: SourceQueue[]): void {
    const problems = queues.flatMap((s) => {
      const owner = this.otherAccount(s.facts.arn);
      if (owner === undefined || !s.createsFallback || !s.facts.deadLetterQueue) return [];
      return [
        `source queue '${s.queue.source}' (cluster '${s.cluster.id}', ${s.region}) is in account ${owner}, and so is its dead-letter queue '${s.facts.deadLetterQueue}', but the stack creates its fallback '${s.queue.fallback}' in the account it deploys to, and SQS redrives only within one account: create the fallback yourself in account ${owner} (redriving to '${s.facts.deadLetterQueue}'), under a name without the "${OWNED_QUEUE_PREFIX}" prefix, name it as the fallback in the topology and give its ARN in context "queueArns"; or remove the dead-letter queue (topology "deadLetterQueue", context "deadLetterQueues") to have the fallback created without one`,
      ];
    });
    if (problems.length === 0) return;
    throw new DeploymentConfigError(
      `fallback queues that cannot redrive to their source queue's dead-letter queue:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
      { problems },
    );
  }

  private eventSourceOptions(s: SourceQueue, ctx: DeployContext) {
    const fifo = s.queue.source.endsWith('.fifo');
    if (fifo && (ctx.splitterBatchSize > FIFO_MAX_BATCH || ctx.splitterMaxBatchingWindowSecs > 0)) {
      throw new DeploymentConfigError(
        `source queue '${s.queue.source}' is FIFO: SQS allows at most ${FIFO_MAX_BATCH} messages per batch and no batching window (context splitterBatchSize=${ctx.splitterBatchSize}, splitterMaxBatchingWindowSecs=${ctx.splitterMaxBatchingWindowSecs})`,
      );
    }
    if (ctx.splitterBatchSize > 10 && ctx.splitterMaxBatchingWindowSecs === 0) {
      throw new DeploymentConfigError(
        `context splitterBatchSize=${ctx.splitterBatchSize} needs a batching window: set splitterMaxBatchingWindowSecs to 1 or more`,
      );
    }
    return {
      batchSize: ctx.splitterBatchSize,
      ...(ctx.splitterMaxBatchingWindowSecs > 0
        ? { maxBatchingWindow: Duration.seconds(ctx.splitterMaxBatchingWindowSecs) }
        : {}),
      // One failed message is retried alone, never its whole batch (DESIGN.md).
      reportBatchItemFailures: true,
      maxConcurrency: ctx.splitterMaxConcurrency,
    };
  }

  private createFallback(s: SourceQueue): Queue {
    const fifo = s.queue.fallback.endsWith('.fifo');
    const dlq = s.facts.deadLetterQueue;
    const queue = new Queue(this, `Fallback-${s.queue.fallback}`, {
      queueName: s.queue.fallback,
      ...(fifo ? { fifo: true } : {}),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The consumer reads the fallback exactly as it reads the source: same visibility timeout.
      visibilityTimeout: Duration.seconds(s.facts.visibilityTimeoutSecs ?? DEFAULT_FALLBACK_VISIBILITY_SECS),
      retentionPeriod: Duration.days(14),
      ...(dlq
        ? {
            deadLetterQueue: {
              queue: Queue.fromQueueArn(
                this,
                `DeadLetters-${s.queue.source}`,
                queueArn(this, this.region, dlq),
              ),
              maxReceiveCount: FALLBACK_MAX_RECEIVE_COUNT,
            },
          }
        : {}),
      // It may hold the application's messages when the stack goes.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    if (!dlq) acknowledge(queue, 'SQS3', NAG_REASONS.fallbackWithoutDlq);
    new CfnOutput(this, `FallbackUrl-${s.queue.fallback.replace(/[^A-Za-z0-9]/g, '')}`, {
      value: queue.queueUrl,
      description: `fallback queue of ${s.queue.source} (cluster ${s.cluster.id})`,
    });
    return queue;
  }
}
