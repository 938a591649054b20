import { ConditionFailedError, ValidationError } from '../../errors/errors.ts';
import { assertDistinctKeys, checkUpdatePaths, conditionHolds } from '../conditions.ts';
import {
  type Attrs,
  type Key,
  MAX_ITEM_BYTES,
  type NewItem,
  type QueryOptions,
  type Store,
  type StoredItem,
  type UpdateOptions,
  type WriteOptions,
} from '../store.ts';

/** In-memory store for unit tests of the core. Same contract and limits as the DynamoDB adapter. */
export class MemoryStore implements Store {
  private readonly items = new Map<string, StoredItem>();

  private static id(key: Key): string {
    return `${key.pk}\u0000${key.sk}`;
  }

  private static check(conds: WriteOptions['conditions'], item: StoredItem | undefined, key: Key): void {
    for (const c of conds ?? []) {
      if (!conditionHolds(c, item)) {
        throw new ConditionFailedError(`condition ${c.type} failed on ${key.pk}/${key.sk}`, { key });
      }
    }
  }

  private static sized(item: StoredItem): StoredItem {
    const bytes = Buffer.byteLength(JSON.stringify(item));
    if (bytes > MAX_ITEM_BYTES) {
      throw new ValidationError(
        `item ${item.pk}/${item.sk} is ${bytes} bytes, above DynamoDB's 400 KB limit`,
      );
    }
    return structuredClone(item);
  }

  async get(key: Key): Promise<StoredItem | undefined> {
    const item = this.items.get(MemoryStore.id(key));
    return item ? structuredClone(item) : undefined;
  }

  async put(item: NewItem, opts?: WriteOptions): Promise<StoredItem> {
    const current = this.items.get(MemoryStore.id(item));
    MemoryStore.check(opts?.conditions, current, item);
    const stored = MemoryStore.sized(dropUndefined({ ...item, version: item.version ?? 1 }) as StoredItem);
    this.items.set(MemoryStore.id(item), stored);
    return structuredClone(stored);
  }

  async putAll(items: NewItem[]): Promise<StoredItem[]> {
    assertDistinctKeys(items);
    const stored = items.map((i) =>
      MemoryStore.sized(dropUndefined({ ...i, version: i.version ?? 1 }) as StoredItem),
    );
    for (const item of stored) this.items.set(MemoryStore.id(item), item);
    return structuredClone(stored);
  }

  async update(key: Key, set: Attrs, opts?: UpdateOptions): Promise<StoredItem> {
    checkUpdatePaths(set, opts);
    const current = this.items.get(MemoryStore.id(key));
    MemoryStore.check([{ type: 'exists' }, ...(opts?.conditions ?? [])], current, key);
    // The key cannot change (DynamoDB ignores pk/sk in `set` too); `version` is the store's own.
    const { pk: _pk, sk: _sk, version: _v, ...fields } = dropUndefined(set);
    const next: Attrs = { ...current, ...fields, version: (current!.version ?? 0) + 1 };
    for (const attr of opts?.remove ?? []) delete next[attr];
    for (const [attr, n] of Object.entries(opts?.add ?? {})) next[attr] = ((next[attr] as number) ?? 0) + n;
    const stored = MemoryStore.sized(next as StoredItem);
    this.items.set(MemoryStore.id(key), stored);
    return structuredClone(stored);
  }

  async delete(key: Key, opts?: WriteOptions): Promise<void> {
    const current = this.items.get(MemoryStore.id(key));
    MemoryStore.check(opts?.conditions, current, key);
    this.items.delete(MemoryStore.id(key));
  }

  async query(pk: string, opts?: QueryOptions): Promise<StoredItem[]> {
    const out = [...this.items.values()]
      .filter((i) => i.pk === pk && (!opts?.skPrefix || i.sk.startsWith(opts.skPrefix)))
      .sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
    return structuredClone(opts?.limit ? out.slice(0, opts.limit) : out);
  }

  async listByKind(kind: string, opts?: { limit?: number }): Promise<StoredItem[]> {
    const out = [...this.items.values()]
      .filter((i) => i.kind === kind)
      .sort((a, b) => (a.pk < b.pk ? -1 : 1));
    return structuredClone(opts?.limit ? out.slice(0, opts.limit) : out);
  }
}

function dropUndefined(a: Attrs): Attrs {
  return Object.fromEntries(Object.entries(a).filter(([, v]) => v !== undefined));
}
