import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseSimulation, type SimStats } from '../../shared/lease/simulation.ts';
import { simScenario } from '../../shared/lease/simulation-commands.ts';
import { type LeaseTiming, leaseTiming } from '../../shared/lease/timing.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite.ts';

/**
 * The lease property of test/unit/lease-property.test.ts, smaller, against DynamoDbStore on
 * dynalite: the conditions are evaluated by a DynamoDB implementation, not by the fake.
 */

const timing: LeaseTiming = leaseTiming(
  { leaseMs: 1_000, renewMs: 250 },
  { maxClockSkewMs: 100, writeMarginMs: 100 },
);

describe('lease safety under random schedules (DynamoDbStore on dynalite)', () => {
  let local: LocalDynamo;
  let store: DynamoDbStore;
  const totals = { runs: 0, contenders: 0, commands: 0, takeovers: 0, acceptedWrites: 0, staleRejected: 0 };

  beforeAll(async () => {
    local = await startDynalite();
    await ensureTable(local.client, 'lease-property');
    store = new DynamoDbStore(local.client, 'lease-property');
  });
  afterAll(async () => {
    console.info(`lease property on dynalite: ${JSON.stringify(totals)}`);
    await local?.stop();
  });

  it('never two leaders, tokens +1 per takeover, no stale fenced write accepted', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        simScenario(timing, { contenders: [5, 5], commands: [400, 600], items: 2 }),
        async ({ offsets, cmds }) => {
          // Each run (and each shrink attempt) gets its own lease and items in the shared table.
          const sim = new LeaseSimulation(store, timing, offsets, `run${++run}`);
          for (const c of cmds) await sim.run(c);
          await sim.drain();
          expect(sim.overlappingBeliefs()).toEqual([]);
          expect(sim.tokenGaps()).toEqual([]);
          expect(sim.staleAccepted()).toEqual([]);
          totals.runs++;
          totals.contenders += offsets.length;
          for (const k of ['commands', 'takeovers', 'acceptedWrites', 'staleRejected'] as (keyof SimStats &
            keyof typeof totals)[]) {
            totals[k] += sim.stats[k];
          }
        },
      ),
      { numRuns: 8, interruptAfterTimeLimit: 60_000, markInterruptAsFailure: true },
    );
    expect(totals.takeovers).toBeGreaterThan(totals.runs);
    expect(totals.acceptedWrites).toBeGreaterThan(0);
  }, 120_000);
});
