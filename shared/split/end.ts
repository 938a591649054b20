import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';
import type { SplitContext } from './context.ts';
import { asQueueSplit, asSessionSplit, type SessionSplit } from './model.ts';

export interface EndSplitsResult {
  /** Queues whose split moved to `draining` in this call. */
  ended: string[];
  /** Queues that were already draining or retired (a repeated or resumed cleanup). */
  alreadyEnded: string[];
}

/**
 * Ends every split of a session. Idempotent, and reads everything from the store: a cleanup that
 * stopped half-way finishes on the next call.
 *
 * The registration is removed first, so splitters stop routing to the output queue (within their
 * cache staleness, `splitCacheMs`); only then is the status moved to `draining` with a deadline.
 * The output queue itself stays until the retire duty finds it drained or past the deadline.
 */
export async function endSessionSplits(ctx: SplitContext, sessionId: string): Promise<EndSplitsResult> {
  const items = await ctx.store.query(keys.sessionSplit(sessionId, '').pk, { skPrefix: 'SPLIT#' });
  const result: EndSplitsResult = { ended: [], alreadyEnded: [] };
  for (const item of items) {
    const split = asSessionSplit(item);
    // Deleting an absent registration is a no-op, and a registration that a crashed registration
    // wrote after an earlier end would otherwise survive: remove it in every state.
    await ctx.store.delete(keys.queueSplit(split.queue, split.createdAt, sessionId));
    if (split.status === 'draining' || split.status === 'retired') {
      result.alreadyEnded.push(split.queue);
      continue;
    }
    if (await markDraining(ctx, split)) result.ended.push(split.queue);
    else result.alreadyEnded.push(split.queue);
  }
  return result;
}

/** `registering|active -> draining`; false when another cleanup got there first. */
async function markDraining(ctx: SplitContext, split: SessionSplit): Promise<boolean> {
  const now = ctx.now();
  try {
    await ctx.store.update(
      keys.sessionSplit(split.sessionId, split.queue),
      { status: 'draining', endedAt: now, drainDeadline: now + ctx.settings.drainTimeoutMs },
      { conditions: [{ type: 'in', attr: 'status', values: ['registering', 'active'] }] },
    );
    return true;
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
    const fresh = await ctx.store.get(keys.sessionSplit(split.sessionId, split.queue));
    if (!fresh) return false;
    const status = asSessionSplit(fresh).status;
    if (status === 'draining' || status === 'retired') return false;
    return markDraining(ctx, asSessionSplit(fresh));
  }
}

/**
 * Sessions that still hold a split: a registration splitters read, or a status not yet draining.
 * Two index reads whatever the number of sessions, so the reconciler can look on every run; it
 * ends the splits of those whose session has ended (a crash between the session's close and its
 * release, or a registration that raced the end).
 */
export async function splitHolders(store: Store): Promise<Set<string>> {
  const [registrations, statuses] = await Promise.all([
    store.listByKind(KINDS.queueSplit),
    store.listByKind(KINDS.sessionSplit),
  ]);
  const holders = new Set<string>();
  for (const r of registrations) holders.add(asQueueSplit(r).sessionId);
  for (const s of statuses) {
    const split = asSessionSplit(s);
    if (split.status === 'registering' || split.status === 'active') holders.add(split.sessionId);
  }
  return holders;
}
