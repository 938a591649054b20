import { ConditionFailedError, ValidationError } from '../errors/errors.ts';
import { keys } from '../store/keys.ts';
import type {
  Attrs,
  Condition,
  Key,
  NewItem,
  Store,
  StoredItem,
  UpdateOptions,
  WriteOptions,
} from '../store/store.ts';
import { LeaseExpiredError, LeaseLostError, StaleFenceError } from './errors.ts';
import { type LeaseHandle, writableUntil } from './lease.ts';

/**
 * Writes done under a lease. Each one is fenced: it sets `fence = token` on the item and is
 * conditioned on `attribute_not_exists(fence) OR fence <= token`, so once a newer holder wrote an
 * item, a deposed holder's late write to it is rejected:
 *
 *   A (token 8): check ok, write X ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~> lands [fence 9 <= 8 ✗]
 *   B (token 9):          (A's lease expires) acquire, write X (fence = 9) -> ok
 *
 * The remaining hole: a late write of A to an item that B has NOT written yet passes the fence
 * (its fence is <= 8). DynamoDB cannot check the lease item and write another item atomically
 * without transactions, so this hole is narrowed, not closed:
 *
 *   1. Before every write, our own clock must be below `writableUntil` = expiresAt - K - margin:
 *      a holder stops writing `writeMarginMs` before any contender can take over (K covers the
 *      clock skew). A write that passed the check then has `writeMarginMs` to land before B can
 *      exist at all; only a pause longer than that between the check and the landing (a frozen
 *      process, a long SDK retry) lets it through.
 *   2. `recheck: true` also reads the lease item just before writing and refuses if another owner
 *      or token holds it (catches a clock that broke the skew bound, or an operator takeover).
 *   3. What still slips through lands before B ever touched the item, so per item it is ordered
 *      before all of B's writes: B reads it and its own conditional writes (on `version` or state)
 *      see it. Duties are idempotent and re-derive state from the store, so such a write is
 *      redone or undone by B's next run rather than lost.
 */

export interface FencedOptions {
  /** Read the lease item before writing and refuse if it changed hands (one extra read). */
  recheck?: boolean;
  /** The store to read the lease from for `recheck` (defaults to the one written to). */
  leaseStore?: Store;
}

async function guard(store: Store, lease: LeaseHandle, opts: FencedOptions | undefined): Promise<void> {
  const checkClock = () => {
    const now = lease.clock.now();
    const until = writableUntil(lease);
    if (!(now < until)) throw new LeaseExpiredError(lease.name, lease.token, until, now);
  };
  checkClock();
  if (opts?.recheck) {
    const item = await (opts.leaseStore ?? store).get(keys.lease(lease.name), { consistent: true });
    if (!item || item.owner !== lease.owner || item.token !== lease.token) {
      throw new LeaseLostError(lease.name, lease.token);
    }
    // The read took time: the clock must still allow the write.
    checkClock();
  }
}

function fenceCondition(lease: LeaseHandle): Condition {
  return { type: 'fence', token: lease.token };
}

/** Tells a stale token apart from the caller's own conditions failing. */
async function explain(store: Store, key: Key, lease: LeaseHandle, err: unknown): Promise<never> {
  if (err instanceof ConditionFailedError) {
    const item = await store.get(key, { consistent: true });
    if (item && typeof item.fence === 'number' && item.fence > lease.token) {
      throw new StaleFenceError(key, lease.token, item.fence);
    }
  }
  throw err;
}

function noFenceIn(attrs: Attrs): void {
  if ('fence' in attrs)
    throw new ValidationError('`fence` is set by the fenced write itself, not by the caller');
}

/** `store.put` under the lease: the item gets `fence = token`. */
export async function fencedPut(
  store: Store,
  lease: LeaseHandle,
  item: NewItem,
  opts?: WriteOptions & FencedOptions,
): Promise<StoredItem> {
  noFenceIn(item);
  await guard(store, lease, opts);
  try {
    return await store.put(
      { ...item, fence: lease.token },
      { conditions: [...(opts?.conditions ?? []), fenceCondition(lease)] },
    );
  } catch (err) {
    return await explain(store, item, lease, err);
  }
}

/** `store.update` under the lease: the item gets `fence = token`. */
export async function fencedUpdate(
  store: Store,
  lease: LeaseHandle,
  key: Key,
  set: Attrs,
  opts?: UpdateOptions & FencedOptions,
): Promise<StoredItem> {
  noFenceIn(set);
  await guard(store, lease, opts);
  try {
    return await store.update(
      key,
      { ...set, fence: lease.token },
      {
        ...(opts?.remove ? { remove: opts.remove } : {}),
        ...(opts?.add ? { add: opts.add } : {}),
        conditions: [...(opts?.conditions ?? []), fenceCondition(lease)],
      },
    );
  } catch (err) {
    return await explain(store, key, lease, err);
  }
}

/** `store.delete` under the lease: refused if a newer holder wrote the item. */
export async function fencedDelete(
  store: Store,
  lease: LeaseHandle,
  key: Key,
  opts?: WriteOptions & FencedOptions,
): Promise<void> {
  await guard(store, lease, opts);
  try {
    await store.delete(key, { conditions: [...(opts?.conditions ?? []), fenceCondition(lease)] });
  } catch (err) {
    await explain(store, key, lease, err);
  }
}

/** The fenced writes bound to one store and one (possibly renewed) holding. */
export interface FencedWriter {
  readonly token: number;
  put(item: NewItem, opts?: WriteOptions & FencedOptions): Promise<StoredItem>;
  update(key: Key, set: Attrs, opts?: UpdateOptions & FencedOptions): Promise<StoredItem>;
  delete(key: Key, opts?: WriteOptions & FencedOptions): Promise<void>;
}

/**
 * Binds the fenced writes to `current()`, read at each write: a holder that renews mid-way keeps
 * writing under the renewed holding; one that lost the lease gets `LeaseLostError`.
 */
export function fencedWriter(
  store: Store,
  current: () => LeaseHandle | undefined,
  token: number,
): FencedWriter {
  const held = (): LeaseHandle => {
    const lease = current();
    if (!lease || lease.token !== token) throw new LeaseLostError(lease?.name ?? 'lease', token);
    return lease;
  };
  return {
    token,
    put: async (item, opts) => await fencedPut(store, held(), item, opts),
    update: async (key, set, opts) => await fencedUpdate(store, held(), key, set, opts),
    delete: async (key, opts) => await fencedDelete(store, held(), key, opts),
  };
}
