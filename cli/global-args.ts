/** What `switchyard` needs to know from its arguments before commander parses them. */
export interface GlobalArgs {
  /** The top-level command to load (`help <command>` names the command it asks about). */
  command?: string;
  /** `--state-file <file>` given before the command. */
  stateFile?: string;
}

/**
 * Finds the command to load without loading any: only the program's own options can come before
 * it (commander parses positionally), and of those only `--state-file` takes a value.
 */
export function scanGlobalArgs(args: readonly string[]): GlobalArgs {
  const out: GlobalArgs = {};
  let askingHelp = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--') break;
    if (arg === '--state-file') {
      const value = args[++i];
      if (value !== undefined) out.stateFile = value;
      continue;
    }
    if (arg.startsWith('--state-file=')) {
      out.stateFile = arg.slice('--state-file='.length);
      continue;
    }
    if (arg.startsWith('-')) continue;
    if (arg === 'help' && !askingHelp) {
      askingHelp = true;
      continue;
    }
    out.command = arg;
    break;
  }
  return out;
}
