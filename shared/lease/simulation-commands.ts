import fc from 'fast-check';
import type { SimCommand } from './simulation.ts';
import type { LeaseTiming } from './timing.ts';

/**
 * Random schedules for `LeaseSimulation` (property tests only): mostly deliveries, ticks, writes
 * and small steps of time, with long steps, freezes past the lease, crashes and releases mixed in.
 * Offsets stay within half the skew bound, so any two clocks differ by at most the bound.
 */
export function simCommands(
  timing: LeaseTiming,
  contenders: number,
  items: number,
): fc.Arbitrary<SimCommand> {
  const who = fc.nat({ max: contenders - 1 });
  const half = Math.floor(timing.maxClockSkewMs / 2);
  return fc.oneof(
    { weight: 30, arbitrary: fc.record({ op: fc.constant('deliver' as const), pick: fc.nat() }) },
    { weight: 2, arbitrary: fc.constant({ op: 'deliverAll' as const }) },
    { weight: 18, arbitrary: fc.record({ op: fc.constant('tick' as const), who }) },
    {
      weight: 18,
      arbitrary: fc.record({
        op: fc.constant('write' as const),
        who,
        item: fc.nat({ max: items - 1 }),
        update: fc.boolean(),
      }),
    },
    {
      weight: 20,
      arbitrary: fc.record({
        op: fc.constant('advance' as const),
        ms: fc.oneof(
          { weight: 8, arbitrary: fc.integer({ min: 0, max: Math.floor(timing.leaseMs * 0.15) }) },
          {
            weight: 1,
            arbitrary: fc.integer({ min: Math.floor(timing.leaseMs * 0.15), max: 3 * timing.leaseMs }),
          },
        ),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('freeze' as const),
        who,
        ms: fc.integer({ min: 50, max: 4 * timing.leaseMs }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('crash' as const),
        who,
        offset: fc.integer({ min: -half, max: half }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('release' as const), who }) },
  );
}

/** Contender count (at least 5), their clock offsets, and a schedule of `min`..`max` commands. */
export function simScenario(
  timing: LeaseTiming,
  opts: { contenders: [number, number]; commands: [number, number]; items: number },
): fc.Arbitrary<{ offsets: number[]; cmds: SimCommand[] }> {
  const half = Math.floor(timing.maxClockSkewMs / 2);
  return fc.integer({ min: opts.contenders[0], max: opts.contenders[1] }).chain((n) =>
    fc.record({
      offsets: fc.array(fc.integer({ min: -half, max: half }), { minLength: n, maxLength: n }),
      cmds: fc.array(simCommands(timing, n, opts.items), {
        minLength: opts.commands[0],
        maxLength: opts.commands[1],
      }),
    }),
  );
}
