import { KINDS } from '../store/keys.ts';
import type { Store } from '../store/store.ts';
import { type Branch, fromItem } from './branch.ts';
import { isExpired, loadBranch, markExpired } from './branches.ts';
import type { BranchDropSpec, BranchSpec } from './schemas.ts';

/**
 * The branch sync controller's core: what the default cluster's connector must be told.
 *
 * It is level-triggered: it reads the store, not memory, so after a router restart or a
 * connector reconnect the same call re-sends everything unfinished. That is safe because the
 * connector's create and drop are idempotent (create of a complete branch reports ready; drop of
 * a missing one reports deleted).
 *
 * The caller sends each spec as `branch.create` / `branch.delete` and then records it with
 * `markPending` / `markDropSent`, which throttles re-sends through `resendAfterMs`.
 */
export interface BranchSync {
  create: BranchSpec[];
  drop: BranchDropSpec[];
}

export interface BranchSyncOptions {
  /**
   * Re-send a pending create only when it was last sent, and the connector last reported on it,
   * at least this long ago; a deleting drop only when it was last sent this long ago. 0 (the
   * default) re-sends everything: use it when the connector just (re)connected.
   */
  resendAfterMs?: number;
}

export function toSpec(b: Branch): BranchSpec {
  return { id: b.id, database: b.database, name: b.name, mode: b.mode, generation: b.generation };
}

export function toDropSpec(b: Branch): BranchDropSpec {
  return { id: b.id, database: b.database, name: b.name, generation: b.generation };
}

/** The last time the create was sent or the connector reported on it. */
function lastContact(b: Branch): number | undefined {
  if (b.sentAt === undefined && b.reportAt === undefined) return undefined;
  return Math.max(b.sentAt ?? 0, b.reportAt ?? 0);
}

export async function branchesToSync(
  store: Store,
  now: number,
  opts: BranchSyncOptions = {},
): Promise<BranchSync> {
  const resendAfterMs = opts.resendAfterMs ?? 0;
  const due = (sentAt: number | undefined) => sentAt === undefined || now - sentAt >= resendAfterMs;
  const out: BranchSync = { create: [], drop: [] };

  // The kind index is eventually consistent: it only nominates candidates; each decision is taken
  // on a consistent read, so a branch re-created a moment ago is never dropped from a stale view.
  const candidates = (await store.listByKind(KINDS.branch))
    .map(fromItem)
    .filter(
      (b) => b.phase === 'init' || b.phase === 'pending' || b.phase === 'deleting' || isExpired(b, now),
    );

  for (const candidate of candidates) {
    let b = await loadBranch(store, candidate.id, now);
    if (!b) continue;
    // Expired -> deleting before the drop is listed, so that a same-id create cannot race it.
    if (isExpired(b, now)) b = await markExpired(store, b.id, now);
    if (!b) continue;
    if (b.phase === 'init') out.create.push(toSpec(b));
    else if (b.phase === 'pending' && due(lastContact(b))) out.create.push(toSpec(b));
    else if (b.phase === 'deleting' && due(b.dropSentAt)) out.drop.push(toDropSpec(b));
  }
  return out;
}
