import { isSwitchyardError } from '../../shared/errors/errors.ts';

/** Prints an error as a person should read it (what went wrong, what to do) and exits non-zero. */
export function reportAndExit(err: unknown): never {
  if (isSwitchyardError(err)) {
    process.stderr.write(`switchyard: ${err.message}\n`);
    process.exit(err.code === 'gone' ? 3 : 1);
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') {
    process.stderr.write(
      `switchyard: cannot reach the router (${e.message}): is it running? Start it with \`npm start\` or pass --router <url>\n`,
    );
    process.exit(1);
  }
  process.stderr.write(`switchyard: ${e?.message ?? String(err)}\n`);
  if (process.env.SWITCHYARD_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(1);
}
