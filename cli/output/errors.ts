import { isSwitchyardError } from '../../shared/errors/errors.ts';
import { EXIT, exitCodeFor } from './exit-codes.ts';

/** Prints an error as a person should read it (what went wrong, what to do) and exits non-zero. */
export function reportAndExit(err: unknown): never {
  if (isSwitchyardError(err)) {
    process.stderr.write(`switchyard: ${err.message}\n`);
    if (process.env.SWITCHYARD_DEBUG) process.stderr.write(`${err.stack ?? ''}\n`);
    process.exit(exitCodeFor(err.code));
  }
  const e = err as NodeJS.ErrnoException;
  if (e?.code === 'ECONNREFUSED') {
    process.stderr.write(
      `switchyard: cannot reach the router (${e.message}): is it running? Start it with \`npm start\` or pass --router <url>\n`,
    );
    process.exit(EXIT.unreachable);
  }
  // The installed package leaves out the local runtime's embedded services (a native binding).
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && /'(dynalite|fauxqs)'/.test(e.message)) {
    process.stderr.write(
      'switchyard: the local router (`switchyard dev`) runs from a checkout of the Switchyard repository: run `npm start` there; every other command works from this installation\n',
    );
    process.exit(EXIT.error);
  }
  process.stderr.write(`switchyard: ${e?.message ?? String(err)}\n`);
  if (process.env.SWITCHYARD_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(EXIT.error);
}
