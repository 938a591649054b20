import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Command as Program } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from './command-table.ts';
import { EXIT } from './output/exit-codes.ts';

const DOC = readFileSync(join(import.meta.dirname, '../docs/cli.md'), 'utf8');

/** docs/cli.md's section for a top-level command: from its heading to the next. */
function section(name: string): string {
  const at = DOC.search(new RegExp(`^### \`switchyard ${name}\\b`, 'm'));
  expect(at, `a "### \`switchyard ${name}" heading in docs/cli.md`).toBeGreaterThan(-1);
  const next = DOC.indexOf('\n### ', at + 1);
  return DOC.slice(at, next === -1 ? undefined : next);
}

describe('docs/cli.md', () => {
  it('documents every command, subcommand and flag the CLI has', async () => {
    const program = new Program();
    for (const load of new Set(COMMANDS.map((c) => c.load))) (await load())(program);
    const check = (cmd: Command, text: string) => {
      for (const option of cmd.options) {
        if (option.long === '--version' || option.long === '--help') continue;
        // The router options are documented once, by name.
        if (['--router', '--ws', '--token'].includes(option.long!) && text.includes('router options'))
          continue;
        expect(text, `${cmd.name()} ${option.long}`).toContain(`\`${option.long}`);
      }
    };
    for (const cmd of program.commands) {
      const text = section(cmd.name());
      check(cmd, text);
      for (const sub of cmd.commands) {
        expect(text, `${cmd.name()} ${sub.name()}`).toContain(sub.name());
        check(sub, text);
      }
    }
  });

  it('has the one table of exit codes, matching the CLI’s', () => {
    for (const code of Object.values(EXIT)) expect(DOC).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'));
  });
});
