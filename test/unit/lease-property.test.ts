import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { LeaseSimulation, type SimStats } from '../../shared/lease/simulation.ts';
import { simScenario } from '../../shared/lease/simulation-commands.ts';
import { type LeaseTiming, leaseTiming } from '../../shared/lease/timing.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';

/**
 * The lease's safety properties under random schedules: 5 to 7 contenders, 2,000 to 4,000
 * operations per run, every store call delivered in random order and after random delays,
 * contenders frozen past their lease (between their clock check and their send, the worst case),
 * crashed and restarted under new identities, each contender's clock off by up to half the skew
 * bound (so any two differ by at most the bound).
 *
 *   1. No two identities believe they hold the lease at overlapping real times.
 *   2. Each takeover's token is the previous one + 1 (strictly increasing, none reused).
 *   3. Per item, accepted fenced writes never go back to a lower token.
 */

// A short lease so that thousands of operations see many takeovers.
const timing: LeaseTiming = leaseTiming(
  { leaseMs: 1_000, renewMs: 250 },
  { maxClockSkewMs: 100, writeMarginMs: 100 },
);

const totals: SimStats & { runs: number; contenders: number } = {
  runs: 0,
  contenders: 0,
  commands: 0,
  storeCalls: 0,
  takeovers: 0,
  renewals: 0,
  acceptedWrites: 0,
  lateWrites: 0,
  staleRejected: 0,
  refusedByClock: 0,
  freezes: 0,
  crashes: 0,
};

describe('lease safety under random schedules (MemoryStore, simulated clocks)', () => {
  afterAll(() => {
    console.info(`lease property totals: ${JSON.stringify(totals)}`);
  });

  it('never two leaders, tokens +1 per takeover, no stale fenced write accepted', async () => {
    await fc.assert(
      fc.asyncProperty(
        simScenario(timing, { contenders: [5, 7], commands: [2_000, 4_000], items: 2 }),
        async ({ offsets, cmds }) => {
          const sim = new LeaseSimulation(new MemoryStore(), timing, offsets);
          for (const c of cmds) await sim.run(c);
          await sim.drain();
          expect(sim.overlappingBeliefs()).toEqual([]);
          expect(sim.tokenGaps()).toEqual([]);
          expect(sim.staleAccepted()).toEqual([]);
          totals.runs++;
          totals.contenders += offsets.length;
          for (const k of Object.keys(sim.stats) as (keyof SimStats)[]) totals[k] += sim.stats[k];
        },
      ),
      // A failure shrinks for at most a minute, then reports the smallest schedule found so far.
      { numRuns: 50, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
    // The schedules did exercise what the properties are about.
    expect(totals.takeovers).toBeGreaterThan(totals.runs * 10);
    expect(totals.staleRejected).toBeGreaterThan(0);
    expect(totals.lateWrites).toBeGreaterThan(0);
    expect(totals.refusedByClock).toBeGreaterThan(0);
    expect(totals.crashes).toBeGreaterThan(0);
    expect(totals.freezes).toBeGreaterThan(0);
  }, 120_000);
});
