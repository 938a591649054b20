import { ConditionFailedError } from '../errors/errors.ts';
import type { Attrs, Key, Store, StoredItem } from './store.ts';

/** What a change makes of the item it read: attributes to write, or nothing to write. */
export type Change<T> = { write: Attrs; result: T } | { skip: T };

/**
 * Read, change, write back conditional on the version read; on a lost race, all again from the
 * read. The one "conditional update, retry on conflict" loop of the core: `change` sees the item
 * as it is now (undefined when absent) and says what to write, or that nothing is to be written.
 * After `attempts` lost races it throws `ConditionFailedError` with `what` in its message.
 */
export async function updateOnVersion<T>(
  store: Store,
  key: Key,
  change: (item: StoredItem | undefined) => Change<T>,
  opts: { what: string; attempts?: number },
): Promise<T> {
  const attempts = opts.attempts ?? 10;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const item = await store.get(key);
    const step = change(item);
    if ('skip' in step) return step.skip;
    if (!item) throw new Error(`updateOnVersion: ${opts.what}: a change wrote to an absent item`);
    try {
      await store.update(key, step.write, { conditions: [{ type: 'version', version: item.version }] });
      return step.result;
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
  throw new ConditionFailedError(`${opts.what} kept changing under ${attempts} attempts`, { key });
}
