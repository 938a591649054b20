import { ConditionFailedError } from '../errors/errors.ts';
import type { DutyContext } from '../reconcile/duty.ts';
import { fencedStore } from '../reconcile/fenced-store.ts';
import { expireSubscribeAggregate, type SubscribeAggregate } from '../routing/subscribe-aggregate.ts';
import { KINDS, keys } from '../store/keys.ts';

/**
 * A subscribe whose clusters did not all answer by its deadline (a cluster connected but stuck)
 * still gets its one answer: the clusters that answered, and the others reported `timeout`.
 */
export const expireSubscribesDuty = {
  name: 'expire-subscribes',
  async run(ctx: DutyContext) {
    const store = fencedStore(ctx);
    let answered = 0;
    for (const item of await ctx.store.listByKind(KINDS.subscribeAggregate)) {
      if (!ctx.isLeader()) break;
      const step = expireSubscribeAggregate(item.aggregate as SubscribeAggregate, ctx.now());
      if (!step.result) continue;
      try {
        // Conditional on the version read: an answer landing now is not overwritten; the next run sees it.
        await store.update(
          item,
          { aggregate: step.state },
          { conditions: [{ type: 'version', version: item.version }] },
        );
      } catch (err) {
        if (err instanceof ConditionFailedError) continue;
        throw err;
      }
      const sessionId = item.sessionId as string;
      const session = await ctx.store.get(keys.session(sessionId));
      const client = session?.clientConnectionId as string | undefined;
      if (client) await ctx.deps.messenger.toConnection(client, { ...step.result, sessionId });
      await ctx.store.delete(item).catch(() => {});
      answered++;
    }
    return { answered };
  },
};
