import { describe, expect, it } from 'vitest';
import type { RouterApi } from '../router/api-client.ts';
import { SessionEnding } from './ending.ts';
import type { Progress } from './progress.ts';

/** A router API that records calls, and a progress that records lines. */
function fakes() {
  const calls: string[] = [];
  const lines: string[] = [];
  const api = {
    call: async (method: string, path: string) => {
      calls.push(`${method} ${path}`);
      return {};
    },
  } as unknown as RouterApi;
  const progress: Progress = {
    step: (t) => lines.push(`… ${t}`),
    info: (t) => lines.push(`✓ ${t}`),
    warn: (t) => lines.push(`! ${t}`),
  };
  return { api, progress, calls, lines };
}

describe('SessionEnding: Ctrl-C wherever it lands', () => {
  it('while the POST is in flight: waits for the id it answers, then ends that session', async () => {
    // Prepare
    const f = fakes();
    const ending = new SessionEnding(f.api, f.progress);
    let answer!: (s: { id: string }) => void;
    void ending.creation(new Promise<{ id: string }>((r) => (answer = r)));
    // Act
    const ended = ending.end();
    await new Promise((r) => setTimeout(r, 10));
    const before = [...f.calls];
    answer({ id: 's1' });
    await ended;
    // Assess
    expect(before).toEqual([]);
    expect(f.calls).toEqual(['DELETE /v1/sessions/s1']);
    expect(f.lines).toEqual([
      '… waiting for the router to name the session it is creating',
      '… ending session s1, which was still being set up',
      '✓ session s1 ended',
    ]);
  });

  it('when the POST failed: nothing to end, and it says so', async () => {
    const f = fakes();
    const ending = new SessionEnding(f.api, f.progress);
    await ending.creation(Promise.reject(new Error('503'))).catch(() => {});
    await ending.end();
    expect(f.calls).toEqual([]);
    expect(f.lines.at(-1)).toBe('✓ no session was created');
  });

  it('once ready: an ordinary ending, local cleanups first, and only once however often it is asked', async () => {
    const f = fakes();
    const ending = new SessionEnding(f.api, f.progress);
    ending.also(() => {
      f.calls.push('stop the socket');
    });
    await ending.creation(Promise.resolve({ id: 's2' }));
    ending.markReady();
    await Promise.all([ending.end(), ending.end()]);
    expect(f.calls).toEqual(['stop the socket', 'DELETE /v1/sessions/s2']);
    expect(f.lines).toEqual(['… ending session s2', '✓ session s2 ended']);
    expect(ending.started).toBe(true);
  });
});
