import {
  BranchCopyError,
  BranchEngineError,
  BranchPermissionError,
  SourceNotFoundError,
  SourceUnreachableError,
} from '../errors.ts';

interface PgLikeError {
  code?: string;
  message?: string;
}

function parts(err: unknown): { code: string | undefined; message: string } {
  const e = (err ?? {}) as PgLikeError;
  return { code: e.code, message: e.message ?? String(err) };
}

/** A failed connect, in words: who refused, where, and why. */
export function pgConnectError(
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
    case '28P01':
    case '28000':
      return new SourceUnreachableError(`${at} rejected the credentials of the URL: ${message}`);
    case '3D000':
      return new SourceNotFoundError(`source database '${ctx.database}' does not exist on ${ctx.where}`);
    default:
      if (/timeout/i.test(message))
        return new SourceUnreachableError(`${at} did not answer in time: ${message}`);
      return new SourceUnreachableError(`could not connect to ${at}: ${message}`);
  }
}

/** A failed step of a create or drop, naming the step. */
export function pgStepError(err: unknown, step: string): BranchEngineError {
  if (err instanceof BranchEngineError) return err;
  const { code, message } = parts(err);
  switch (code) {
    case '42501':
      return new BranchPermissionError(`${step}: permission denied (${message})`);
    case '55P03':
      return new BranchCopyError(
        `${step}: another transaction holds a lock on the source for too long (${message})`,
      );
    case '55006':
      return new BranchCopyError(`${step}: the database is in use by other sessions (${message})`);
    default:
      return new BranchCopyError(`${step}: ${message}`);
  }
}
