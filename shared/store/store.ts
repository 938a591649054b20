/**
 * The state store: one table, single-table keys (DESIGN.md), every write conditional.
 *
 * Items are plain JSON objects with a partition key `pk`, a sort key `sk`, a `kind` (which the
 * `byKind` index lists), and a `version` that every write bumps. Updates name the conditions
 * they rely on; a lost race raises `ConditionFailedError` and the caller re-reads, never
 * overwrites blindly.
 */
export interface Key {
  pk: string;
  sk: string;
}

export type Attrs = Record<string, unknown>;

export interface StoredItem extends Key {
  kind: string;
  version: number;
  /** Epoch milliseconds after which the item is dead. Enforced by code; DynamoDB TTL only collects garbage. */
  expiresAt?: number;
  [attr: string]: unknown;
}

export interface NewItem extends Key {
  kind: string;
  version?: number;
  expiresAt?: number;
  [attr: string]: unknown;
}

export type Condition =
  /** The item does not exist yet: creation races (two creators, one winner). */
  | { type: 'absent' }
  /** The item exists (do not resurrect something a cleanup deleted). */
  | { type: 'exists' }
  /** Optimistic concurrency: nobody wrote since we read `version`. */
  | { type: 'version'; version: number }
  /** Absent, or its `expiresAt` is before `now`: taking over an expired lease. */
  | { type: 'absentOrExpired'; now: number }
  /** An attribute holds exactly this value (lease owner, expected state). */
  | { type: 'equals'; attr: string; value: string | number | boolean }
  /** An attribute holds one of these values (a state machine transition from several states). */
  | { type: 'in'; attr: string; values: (string | number)[] }
  /** The item has no such attribute (a mark written at most once: a repeated answer changes nothing). */
  | { type: 'lacks'; attr: string }
  /**
   * Fencing: the item was never written under a newer lease token. Items written under a lease
   * carry `fence`; a deposed holder (token lower than the item's fence) is rejected.
   */
  | { type: 'fence'; token: number };

export interface WriteOptions {
  /** All conditions must hold (AND). */
  conditions?: Condition[];
}

export interface UpdateOptions extends WriteOptions {
  /** Attributes to remove. */
  remove?: string[];
  /** Numeric attributes to add to (counters); created at 0 when absent. */
  add?: Record<string, number>;
}

export interface QueryOptions {
  /** Only sort keys starting with this prefix. */
  skPrefix?: string;
  limit?: number;
}

export interface Store {
  get(key: Key, opts?: { consistent?: boolean }): Promise<StoredItem | undefined>;
  /**
   * Create or replace an item; `version` becomes the given one or 1. Replacing resets the version
   * unless one is given: a writer that replaces and conditions on versions must pass the next one.
   * `ttl` is reserved (DynamoDB's TTL, derived from `expiresAt`; reads strip it).
   */
  put(item: NewItem, opts?: WriteOptions): Promise<StoredItem>;
  /**
   * Set attributes and bump `version` by one; returns the item as written. Fails if the item is
   * absent. An update that names one attribute twice (set and remove, set and add) is refused, and
   * an `in` condition takes at most 100 values (DynamoDB's limit).
   */
  update(key: Key, set: Attrs, opts?: UpdateOptions): Promise<StoredItem>;
  /**
   * Creates or replaces several items with no condition, each at version 1 (or its own), in as
   * few calls as the backend allows (DynamoDB: BatchWriteItem, 25 items a call). Not atomic: on
   * an error some items may be written. For items whose keys no one else can hold yet (the
   * children of a session whose parent was just created with `absent`); never for items under
   * a lease (a batch cannot carry the fence).
   */
  putAll(items: NewItem[]): Promise<StoredItem[]>;
  delete(key: Key, opts?: WriteOptions): Promise<void>;
  /** Items of one partition, sorted by `sk`. */
  query(pk: string, opts?: QueryOptions): Promise<StoredItem[]>;
  /** Every item of one kind (via the `byKind` index), eventually consistent. */
  listByKind(kind: string, opts?: { limit?: number }): Promise<StoredItem[]>;
}

/** DynamoDB's item size limit; the fake enforces it too so unit tests meet it early. */
export const MAX_ITEM_BYTES = 400 * 1024;

export const TABLE_KEYS = {
  partitionKey: 'pk',
  sortKey: 'sk',
  kindIndex: 'byKind',
  kindIndexPartitionKey: 'kind',
  kindIndexSortKey: 'pk',
  ttlAttribute: 'ttl',
} as const;
