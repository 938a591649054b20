import { randomBytes } from 'node:crypto';
import { BRANCH_ID_PATTERN } from './schemas.ts';

/**
 * Every branch database carries this prefix. The connector only ever creates or drops databases
 * whose name matches it, so a bad or forged message cannot make it drop the application's own
 * database.
 */
export const BRANCH_DB_PREFIX = 'sy_branch_';
const BRANCH_DB_NAME = /^sy_branch_[a-z0-9_]{1,53}$/;

/**
 * `sy_branch_<id>` with "-" turned into "_": a plain identifier on Postgres and MySQL, <= 50 chars.
 * Ids never contain "_", so two ids never map to one name.
 */
export function branchDatabaseName(id: string): string {
  if (!BRANCH_ID_PATTERN.test(id)) throw new Error(`not a branch id: ${JSON.stringify(id)}`);
  return `${BRANCH_DB_PREFIX}${id.replaceAll('-', '_')}`;
}

export function isBranchDatabaseName(name: string): boolean {
  return BRANCH_DB_NAME.test(name);
}

/** 12 lowercase letters and digits, ~62 bits of randomness. */
export function newBranchId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(12)].map((b) => alphabet[b % alphabet.length]).join('');
}
