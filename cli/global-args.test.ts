import { describe, expect, it } from 'vitest';
import { scanGlobalArgs } from './global-args.ts';

describe('scanGlobalArgs', () => {
  it.each([
    { args: ['sessions'], want: { command: 'sessions' } },
    {
      args: ['--state-file', 'x.json', 'sessions', '--all'],
      want: { command: 'sessions', stateFile: 'x.json' },
    },
    {
      args: ['--state-file=x.json', 'intercept', 'api'],
      want: { command: 'intercept', stateFile: 'x.json' },
    },
    { args: ['help', 'intercept'], want: { command: 'intercept' } },
    { args: ['--help'], want: {} },
    { args: ['--version'], want: {} },
    { args: [], want: {} },
    { args: ['exec', 'api', '--', 'help'], want: { command: 'exec' } },
  ])('$args → $want', ({ args, want }) => {
    expect(scanGlobalArgs(args)).toEqual(want);
  });
});
