import type { DutyContext } from '../reconcile/duty.ts';
import { fencedStore } from '../reconcile/fenced-store.ts';
import { syncBranches } from './controller.ts';

/** Re-sends unfinished creates (after a quiet spell) and the drops of expired or deleted branches. */
export const syncBranchesDuty = {
  name: 'sync-branches',
  run: (ctx: DutyContext) =>
    syncBranches(
      { store: fencedStore(ctx), topology: ctx.topology, messenger: ctx.deps.messenger, now: ctx.now },
      { resendAfterMs: 30_000 },
    ),
};
