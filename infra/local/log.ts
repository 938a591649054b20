/** Where the local runtime reports what it does. Tests pass `silentLog`; the CLI prints to stderr. */
export interface LocalLog {
  info(message: string): void;
  warn(message: string, err?: unknown): void;
  error(message: string, err?: unknown): void;
}

const describe = (err: unknown): string =>
  err === undefined ? '' : `: ${err instanceof Error ? err.message : String(err)}`;

export const consoleLog: LocalLog = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m, err) => process.stderr.write(`warn: ${m}${describe(err)}\n`),
  error: (m, err) => {
    process.stderr.write(`error: ${m}${describe(err)}\n`);
    if (process.env.SWITCHYARD_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
  },
};

export const silentLog: LocalLog = { info: () => {}, warn: () => {}, error: () => {} };
