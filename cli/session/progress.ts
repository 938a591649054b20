/** Progress lines on stderr, so stdout stays clean for what a command prints (env, JSON). */
export interface Progress {
  step(text: string): void;
  info(text: string): void;
  warn(text: string): void;
}

export function stderrProgress(quiet = false): Progress {
  const write = (prefix: string, text: string) => {
    if (!quiet) process.stderr.write(`${prefix}${text}\n`);
  };
  return {
    step: (t) => write('… ', t),
    info: (t) => write('✓ ', t),
    warn: (t) => process.stderr.write(`! ${t}\n`),
  };
}
