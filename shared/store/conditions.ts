import { ValidationError } from '../errors/errors.ts';
import type { Attrs, Condition, Key } from './store.ts';

/**
 * Evaluates store conditions against an item held in memory. The in-memory fake uses it; the
 * DynamoDB adapter compiles the same conditions to condition expressions, and the contract tests
 * check that both agree.
 */
export function conditionHolds(c: Condition, item: Attrs | undefined): boolean {
  switch (c.type) {
    case 'absent':
      return item === undefined;
    case 'exists':
      return item !== undefined;
    case 'version':
      return item !== undefined && item.version === c.version;
    case 'absentOrExpired':
      return item === undefined || (typeof item.expiresAt === 'number' && item.expiresAt < c.now);
    case 'equals':
      return item !== undefined && item[c.attr] === c.value;
    case 'in':
      return item !== undefined && c.values.includes(item[c.attr] as string | number);
    case 'lacks':
      return item === undefined || item[c.attr] === undefined;
    case 'fence':
      return item === undefined || item.fence === undefined || (item.fence as number) <= c.token;
  }
}

/** Attributes the store itself maintains: an update may not remove them or count them. */
const MANAGED = new Set(['pk', 'sk', 'version']);

/**
 * The shape rules of an update that both adapters enforce the same way. DynamoDB rejects an
 * update expression whose paths overlap ("Two document paths overlap"); the fake would silently
 * apply them in some order. `pk`/`sk`/`version` in `set` are ignored by both (the key cannot
 * change, `version` is bumped by the store); removing or adding to them is a caller bug.
 */
export function checkUpdatePaths(
  set: Attrs,
  opts?: { remove?: string[]; add?: Record<string, number> },
): void {
  const setNames = Object.keys(set).filter((a) => set[a] !== undefined && !MANAGED.has(a));
  const removes = opts?.remove ?? [];
  const adds = Object.keys(opts?.add ?? {});
  const seen = new Map<string, string>();
  for (const [how, names] of [
    ['set', setNames],
    ['remove', removes],
    ['add', adds],
  ] as const) {
    for (const name of names) {
      if (how !== 'set' && MANAGED.has(name)) {
        throw new ValidationError(`an update cannot ${how} '${name}': the store maintains it`);
      }
      const before = seen.get(name);
      if (before) {
        throw new ValidationError(`an update names '${name}' twice (${before} and ${how}): pick one`);
      }
      seen.set(name, how);
    }
  }
}

/**
 * A batch of puts names each key once: DynamoDB refuses a batch with a key twice ("Provided list
 * of item keys contains duplicates"); the fake would keep the last one. Both refuse it the same way.
 */
export function assertDistinctKeys(items: Key[]): void {
  const seen = new Set<string>();
  for (const i of items) {
    const id = `${i.pk}\u0000${i.sk}`;
    if (seen.has(id))
      throw new ValidationError(`a batch of puts names ${i.pk}/${i.sk} twice: write each item once`);
    seen.add(id);
  }
}
