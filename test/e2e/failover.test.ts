import { describe, expect, it } from 'vitest';
import { runFailover } from './failover-scenario.ts';

/**
 * `switchyard dev --replicas 2` with a short lease (3 s, renewed every second); two clusters'
 * traffic stolen into one local app while router workers are killed with SIGKILL. Timings are
 * reported, not asserted (bench/failover/run.ts measures them with the default settings).
 */
describe('failover between local router replicas', () => {
  it('answers every request, resumes the session and moves the duties when workers are SIGKILLed', async () => {
    const report = await runFailover({
      replicas: 2,
      settings: { leaseMs: 3000, renewMs: 1000, reconcileEveryMs: 500 },
      requestDeadlineMs: 2000,
      log: (line) => process.stderr.write(`[failover] ${line}\n`),
    });
    process.stderr.write(
      `[failover] ${JSON.stringify({ ...report, requests: { ...report.requests, lostDetail: undefined } })}\n`,
    );

    // Every request was answered: by the local app, or (while the session was reconnecting) the upstream.
    expect(report.requests.lostDetail).toEqual([]);
    expect(report.requests.sent).toBeGreaterThan(50);
    expect(report.requests.local).toBeGreaterThan(0);
    // The same session kept being served: the CLI resumed it, and no other session exists.
    expect(report.resumedSameSession).toBe(true);
    expect(report.liveSessions).toEqual([report.sessionId]);
    // The worker holding the CLI's connection was killed, and so (first or second) was the lease holder.
    expect(report.kills[0]!.held.client).toBe(true);
    expect(report.kills.some((k) => k.held.lease && k.leaseFailoverMs !== undefined)).toBe(true);
    for (const k of report.kills) {
      expect(Object.keys(k.resumeMs ?? {}).sort()).toEqual(['east', 'west']);
      if (k.tokens) expect(k.tokens[1]).toBeGreaterThan(k.tokens[0]);
    }
    // No write under a token newer than the current lease's: no stale holder wrote.
    expect(report.staleFencedItems).toBe(0);
    // The primary started the killed workers again.
    expect(report.workerRestarts).toBeGreaterThanOrEqual(1);
  }, 240_000);
});
