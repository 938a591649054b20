import { afterEach, describe, expect, it, vi } from 'vitest';
import { DrainWatch } from './drain-watch.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('DrainWatch', () => {
  it('calls back at once when the queue is already low', () => {
    const w = new DrainWatch(() => 10, 100);
    const cb = vi.fn();
    w.whenBelow(cb);
    expect(cb).toHaveBeenCalledOnce();
    expect(w.size).toBe(0);
  });

  it('holds callbacks until the queue falls below the mark, then calls each once and stops looking', () => {
    vi.useFakeTimers();
    let queued = 500;
    const read = vi.fn(() => queued);
    const w = new DrainWatch(read, 100, 10);
    const a = vi.fn();
    const b = vi.fn();
    w.whenBelow(a);
    w.whenBelow(b);
    vi.advanceTimersByTime(50);
    expect(a).not.toHaveBeenCalled();
    queued = 99;
    vi.advanceTimersByTime(10);
    expect([a.mock.calls.length, b.mock.calls.length]).toEqual([1, 1]);
    const reads = read.mock.calls.length;
    vi.advanceTimersByTime(1000);
    expect(read.mock.calls.length).toBe(reads);
  });
});
