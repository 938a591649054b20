import type { SessionHooks } from '../../shared/sessions/lifecycle.ts';
import { endSessionSplits } from '../../shared/split/end.ts';
import { registerSessionSplits } from '../../shared/split/register.ts';
import type { Deps } from './deps.ts';

/** The features a session reaches into: its SQS splits (and, through branchHooks, its branches). */
export function splitHooks(d: Deps): SessionHooks {
  const ctx = {
    store: d.store,
    sqs: d.sqs,
    sqsFor: d.sqsFor,
    topology: d.topology,
    settings: d.settings,
    now: d.now,
  };
  return {
    registerSplits: (s) =>
      registerSessionSplits(ctx, {
        sessionId: s.id,
        createdAt: s.createdAt,
        owner: s.owner,
        splits: s.splits,
      }),
    endSplits: async (s) => {
      await endSessionSplits(ctx, s.id);
    },
  };
}
