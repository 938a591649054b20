import { syncBranchesDuty } from '../../shared/branches/duty.ts';
import type { Duty } from '../../shared/reconcile/duty.ts';
import { expireSubscribesDuty } from '../../shared/relay/subscribe-duty.ts';
import { expireSessionsDuty, resendChildrenDuty } from '../../shared/sessions/duties.ts';
import { retireSplitQueuesDuty } from '../../shared/split/retire-duty.ts';

/**
 * Every background duty, in the order one reconciler run takes them. Adding a duty is adding it
 * here; the ports it needs from the function (`ReconcileDeps`) are declared next to the duty.
 *
 * Sessions end before splits retire, so a split released by this run's `expire-sessions` is
 * looked at by the same run's `retire-split-queues`.
 */
export const RECONCILER_DUTIES: readonly Duty[] = [
  expireSessionsDuty,
  resendChildrenDuty,
  syncBranchesDuty,
  retireSplitQueuesDuty,
  expireSubscribesDuty,
];
