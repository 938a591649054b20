import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Duty, DutyContext } from '../reconcile/duty.ts';
import { fencedStore } from '../reconcile/fenced-store.ts';
import { retireDrainedSplitQueues } from './retire.ts';

declare module '../reconcile/duty.ts' {
  interface ReconcileDeps {
    sqs: SQSClient;
    /** Output queues live in the default cluster's region, fallbacks in each cluster's. */
    sqsFor: (region: string) => SQSClient;
    /** Fallback queues of other accounts, by name (SplitContext.queueArns). */
    queueArns?: Readonly<Record<string, string>>;
  }
}

/** Retires ended splits' output queues (see retire.ts); idempotent, so a failover repeats it safely. */
export const retireSplitQueuesDuty: Duty = {
  name: 'retire-split-queues',
  run: (ctx: DutyContext) =>
    retireDrainedSplitQueues(
      {
        store: fencedStore(ctx),
        sqs: ctx.deps.sqs,
        sqsFor: ctx.deps.sqsFor,
        ...(ctx.deps.queueArns ? { queueArns: ctx.deps.queueArns } : {}),
        topology: ctx.topology,
        settings: ctx.settings,
        now: ctx.now,
        logger: ctx.log,
      },
      { shouldStop: () => !ctx.isLeader() },
    ),
};
