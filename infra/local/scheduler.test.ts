import { afterEach, describe, expect, it } from 'vitest';
import type { LocalLog } from './log.ts';
import { type Scheduler, startScheduler } from './scheduler.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let scheduler: Scheduler | undefined;
afterEach(async () => {
  await scheduler?.stop();
  scheduler = undefined;
});

function run(wakeWithinMs?: () => Promise<number | undefined>) {
  const runs: number[] = [];
  const warnings: string[] = [];
  const log: LocalLog = { info() {}, warn: (m) => warnings.push(m), error() {} };
  scheduler = startScheduler({
    everyMs: 60_000,
    region: 'us-east-1',
    log,
    handler: async () => {
      runs.push(Date.now());
    },
    ...(wakeWithinMs ? { wakeWithinMs } : {}),
  });
  return { runs, warnings };
}

describe('reconciler schedule: waking a standby at the lease expiry', () => {
  it('runs again as soon as the hook says (the holder’s lease expires in 50 ms)', async () => {
    const { runs } = run(async () => 50);
    await sleep(400);
    expect(runs.length).toBeGreaterThanOrEqual(3);
  });

  it.each([
    { what: 'nothing (this process holds the lease)', hook: async () => undefined },
    { what: 'a later time than the period', hook: async () => 600_000 },
  ])('keeps its own period when the hook says $what', async ({ hook }) => {
    const { runs } = run(hook);
    await sleep(300);
    expect(runs).toHaveLength(1);
  });

  it('keeps its period, with a warning, when the hook fails', async () => {
    const { runs, warnings } = run(async () => {
      throw new Error('table unreachable');
    });
    await sleep(300);
    expect(runs).toHaveLength(1);
    expect(warnings).toEqual(['could not read when to run the reconciler next']);
  });
});
