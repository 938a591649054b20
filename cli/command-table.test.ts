import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from './command-table.ts';

describe('the command table', () => {
  it('describes each command as its module does, and every command a module registers is listed', async () => {
    const registered = new Map<string, string>();
    for (const load of new Set(COMMANDS.map((c) => c.load))) {
      const program = new Command();
      (await load())(program);
      for (const cmd of program.commands) registered.set(cmd.name(), cmd.description());
    }
    expect(Object.fromEntries(registered)).toEqual(
      Object.fromEntries(COMMANDS.map((c) => [c.name, c.description])),
    );
  });
});
