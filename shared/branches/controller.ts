import { defaultCluster, type Topology } from '../config/topology.ts';
import type { Messenger } from '../messaging/messenger.ts';
import type { Store } from '../store/store.ts';
import { markDropSent, markPending } from './branches.ts';
import { branchesToSync } from './sync.ts';

/**
 * The sync controller: tells the default cluster's connector what to create and drop, from the
 * store (level-triggered), and records what was sent. Called when a branch is requested or
 * deleted, when the default cluster says hello, and by the reconciler; a default cluster that is
 * not connected leaves branches `init`/`pending` until it returns.
 */
export async function syncBranches(
  deps: { store: Store; topology: Topology; messenger: Messenger; now: () => number },
  opts: { resendAfterMs?: number } = {},
): Promise<{ created: number; dropped: number; unreachable: boolean }> {
  const target = defaultCluster(deps.topology).id;
  const now = deps.now();
  const { create, drop } = await branchesToSync(deps.store, now, opts);
  let created = 0;
  let dropped = 0;
  for (const spec of create) {
    if (!(await deps.messenger.toStatefulReplica(target, { v: 1, type: 'branch.create', ...spec }))) {
      return { created, dropped, unreachable: true };
    }
    await markPending(deps.store, spec.id, now);
    created++;
  }
  for (const spec of drop) {
    if (!(await deps.messenger.toStatefulReplica(target, { v: 1, type: 'branch.delete', ...spec }))) {
      return { created, dropped, unreachable: true };
    }
    await markDropSent(deps.store, spec.id, now);
    dropped++;
  }
  return { created, dropped, unreachable: false };
}
