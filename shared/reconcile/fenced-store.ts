import type { Store } from '../store/store.ts';
import type { DutyContext } from './duty.ts';

/**
 * The store as a duty should use it: reads as they are, every write through the lease's fenced
 * writer, so a deposed leader's late write to an item a newer leader wrote is refused.
 */
export function fencedStore(ctx: Pick<DutyContext, 'store' | 'fenced'>): Store {
  const { store, fenced } = ctx;
  return {
    get: (key, opts) => store.get(key, opts),
    query: (pk, opts) => store.query(pk, opts),
    listByKind: (kind, opts) => store.listByKind(kind, opts),
    put: (item, opts) => fenced.put(item, opts),
    // A batch cannot carry the fence: each item is a fenced put of its own.
    putAll: (items) => Promise.all(items.map((item) => fenced.put(item))),
    update: (key, set, opts) => fenced.update(key, set, opts),
    delete: (key, opts) => fenced.delete(key, opts),
  };
}
