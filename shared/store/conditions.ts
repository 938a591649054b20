import type { Attrs, Condition } from './store.ts';

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
    case 'fence':
      return item === undefined || item.fence === undefined || (item.fence as number) <= c.token;
  }
}
