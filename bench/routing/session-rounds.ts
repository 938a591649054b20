import { loadavg } from 'node:os';
import type { SessionCase, SessionRound } from './report.ts';
import { type SessionTiming, timeSessionReady } from './session-timing.ts';
import { median } from './stats.ts';
import { startWorld } from './world.ts';

export interface SessionRoundsOptions {
  rounds: number;
  /** Measured sessions per case and round (one unmeasured session comes first in each world). */
  sessions: number;
  /** Cluster latency: how long each connector holds its child.ready back. */
  delayMs: number;
  log: (line: string) => void;
  /** dynalite in a process of its own (see dynalite-process.ts) instead of in the benchmark's. */
  dynaliteApart?: boolean;
  /** false: no counting proxy in front of DynamoDB (no call counts). */
  metered?: boolean;
  /** Wraps the measured sessions of each world (a profiler, say); called with the world's cluster count. */
  around?: (clusters: number, run: () => Promise<void>) => Promise<void>;
}

/**
 * Session creation for 1 and 10 clusters, in rounds. Per round both worlds (in alternating
 * order), each freshly started, one unmeasured session first; then sessions with and without the
 * cluster latency in turn, in the same world. The ratio is taken per round, from its medians.
 */
export async function sessionRoundsOf(
  opts: SessionRoundsOptions,
): Promise<{ cases: SessionCase[]; rounds: SessionRound[] }> {
  const { delayMs } = opts;
  const cases: SessionCase[] = [1, 10].flatMap((clusters) =>
    [delayMs, 0].map((latencyMs) => ({ clusters, latencyMs, runs: [] as SessionTiming[] })),
  );
  const caseOf = (clusters: number, latencyMs: number) =>
    cases.find((c) => c.clusters === clusters && c.latencyMs === latencyMs)!;
  const rounds: SessionRound[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    const load1 = loadavg()[0]!;
    const medians: Record<string, number> = {};
    const order = round % 2 === 0 ? [1, 10] : [10, 1];
    for (const n of order) {
      const w = await startWorld({
        clusters: n,
        readyDelayMs: delayMs,
        dynaliteApart: opts.dynaliteApart ?? false,
        metered: opts.metered ?? true,
      });
      try {
        await timeSessionReady(w.runtime, w.meter); // unmeasured: first-call costs of a fresh world
        const mine: Record<number, number[]> = { [delayMs]: [], 0: [] };
        const measure = async () => {
          for (let i = 0; i < opts.sessions; i++) {
            for (const latency of [delayMs, 0]) {
              w.setReadyDelay(latency);
              const t = await timeSessionReady(w.runtime, w.meter);
              caseOf(n, latency).runs.push(t);
              mine[latency]!.push(t.ms);
            }
          }
        };
        await (opts.around ? opts.around(n, measure) : measure());
        for (const latency of [delayMs, 0]) medians[`${n}/${latency}`] = median(mine[latency]!);
      } finally {
        await w.stop();
      }
      const last = (latency: number) =>
        caseOf(n, latency)
          .runs.slice(-opts.sessions)
          .map((x) => x.ms.toFixed(0))
          .join(' ');
      opts.log(
        `sessions, round ${round + 1} (load ${load1.toFixed(2)}), ${n} cluster(s): ${last(delayMs)} ms (no latency: ${last(0)} ms)`,
      );
    }
    rounds.push({
      load1,
      ratio: medians[`10/${delayMs}`]! / medians[`1/${delayMs}`]!,
      ratioNoDelay: medians['10/0']! / medians['1/0']!,
    });
  }
  return { cases, rounds };
}
