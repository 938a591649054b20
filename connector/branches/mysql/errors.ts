import {
  BranchCopyError,
  BranchEngineError,
  BranchPermissionError,
  SourceNotFoundError,
  SourceUnreachableError,
} from '../errors.ts';

interface MysqlLikeError {
  code?: string;
  message?: string;
}

function parts(err: unknown): { code: string | undefined; message: string } {
  const e = (err ?? {}) as MysqlLikeError;
  return { code: e.code, message: e.message ?? String(err) };
}

/** A failed connect, in words: who refused, where, and why. */
export function mysqlConnectError(
  err: unknown,
  ctx: { label: string; where: string; database: string },
): BranchEngineError {
  if (err instanceof BranchEngineError) return err;
  const { code, message } = parts(err);
  const at = `database '${ctx.label}' on ${ctx.where}`;
  switch (code) {
    case 'ECONNREFUSED':
      return new SourceUnreachableError(`${at} refused the connection: ${message}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new SourceUnreachableError(`${at} is unreachable: its host name does not resolve (${code})`);
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return new SourceUnreachableError(`${at} is unreachable: ${message}`);
    case 'ER_ACCESS_DENIED_ERROR':
      return new SourceUnreachableError(`${at} rejected the credentials of the URL: ${message}`);
    case 'ER_BAD_DB_ERROR':
      return new SourceNotFoundError(`source database '${ctx.database}' does not exist on ${ctx.where}`);
    case 'ER_DBACCESS_DENIED_ERROR':
      return new BranchPermissionError(
        `${at}: the URL's user may not use database '${ctx.database}': ${message}`,
      );
    default:
      return new SourceUnreachableError(`could not connect to ${at}: ${message}`);
  }
}

/** A failed step of a create or drop, naming the step. */
export function mysqlStepError(err: unknown, step: string): BranchEngineError {
  if (err instanceof BranchEngineError) return err;
  const { code, message } = parts(err);
  switch (code) {
    case 'ER_DBACCESS_DENIED_ERROR':
    case 'ER_TABLEACCESS_DENIED_ERROR':
    case 'ER_SPECIFIC_ACCESS_DENIED_ERROR':
    case 'ER_ACCESS_DENIED_ERROR':
      return new BranchPermissionError(`${step}: permission denied (${message})`);
    case 'ER_LOCK_WAIT_TIMEOUT':
      return new BranchCopyError(`${step}: another transaction held a lock for too long (${message})`);
    case 'ER_TABLE_DEF_CHANGED':
      return new BranchCopyError(`${step}: the source table was altered during the copy; retry (${message})`);
    default:
      return new BranchCopyError(`${step}: ${message}`);
  }
}
