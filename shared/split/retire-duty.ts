import type { SQSClient } from '@aws-sdk/client-sqs';
import { registerDuty } from '../reconcile/duties.ts';
import type { Duty, DutyContext } from '../reconcile/duty.ts';
import type { Store } from '../store/store.ts';
import { retireDrainedSplitQueues } from './retire.ts';

declare module '../reconcile/duty.ts' {
  interface ReconcileDeps {
    sqs: SQSClient;
    /** Output queues live in the default cluster's region, fallbacks in each cluster's. */
    sqsFor: (region: string) => SQSClient;
  }
}

/** Reads from the store, writes through the lease's fenced writer (a deposed leader's late write is refused). */
function fencedStore(ctx: DutyContext): Store {
  const { store, fenced } = ctx;
  return {
    get: (key, opts) => store.get(key, opts),
    query: (pk, opts) => store.query(pk, opts),
    listByKind: (kind, opts) => store.listByKind(kind, opts),
    put: (item, opts) => fenced.put(item, opts),
    update: (key, set, opts) => fenced.update(key, set, opts),
    delete: (key, opts) => fenced.delete(key, opts),
  };
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
        topology: ctx.topology,
        settings: ctx.settings,
        now: ctx.now,
        logger: ctx.log,
      },
      { shouldStop: () => !ctx.isLeader() },
    ),
};

registerDuty(retireSplitQueuesDuty);
