import { describe, expect, it } from 'vitest';
import { runShutdown, type ShutdownSteps } from './shutdown.ts';

/** Steps that record when each ran (ms after the start); `settle` decides when in-flight work ends. */
function recorder(settleAfterMs: number | 'never') {
  const start = Date.now();
  const calls: [string, number, unknown?][] = [];
  const at = (name: string, arg?: unknown) => calls.push([name, Date.now() - start, arg]);
  const steps: ShutdownSteps = {
    drain: () => at('drain'),
    stopAccepting: () => at('stopAccepting'),
    handBackStolen: (ms) => at('handBackStolen', ms),
    settled: () =>
      new Promise((resolve) => {
        if (settleAfterMs !== 'never') setTimeout(resolve, settleAfterMs);
      }),
    forceClose: () => at('forceClose'),
    leave: async () => {
      at('leave');
    },
  };
  return { steps, calls, names: () => calls.map((c) => c[0]) };
}

describe('runShutdown', () => {
  it('drains, stops accepting, waits for in-flight work, then leaves', async () => {
    // Prepare
    const r = recorder(100);
    // Act
    const result = await runShutdown(r.steps, { drainMs: 150, graceMs: 2_000 }, () => {});
    // Assess
    expect(r.names()).toEqual(['drain', 'stopAccepting', 'handBackStolen', 'leave']);
    const [, stopAt] = r.calls[1]!;
    expect(stopAt).toBeGreaterThanOrEqual(140);
    // Stolen requests get half of what is left after the drain and the 1 s kept for leaving.
    expect(r.calls[2]![2]).toBe(Math.floor((2_000 - 150 - 1_000) / 2));
    expect(result.forced).toBe(false);
    expect(result.tookMs).toBeLessThan(2_000);
  });

  it('cuts what is left when the grace period runs out, and still leaves within it', async () => {
    const r = recorder('never');
    const logs: Record<string, unknown>[] = [];
    const result = await runShutdown(r.steps, { drainMs: 50, graceMs: 1_200 }, (l) => logs.push(l));
    expect(r.names()).toEqual(['drain', 'stopAccepting', 'handBackStolen', 'forceClose', 'leave']);
    expect(result.forced).toBe(true);
    expect(result.tookMs).toBeLessThan(1_200);
    expect(logs.map((l) => l.message)).toContain('grace period over: cutting the connections still open');
  });

  it('does not wait for a goodbye that never completes', async () => {
    const r = recorder(0);
    r.steps.leave = () => new Promise(() => {});
    const result = await runShutdown(r.steps, { drainMs: 0, graceMs: 1_000 }, () => {});
    expect(result.tookMs).toBeLessThan(1_000);
  });
});
