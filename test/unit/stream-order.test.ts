import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamNumbering, StreamOrder } from '../../shared/protocol/stream-order.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('StreamOrder', () => {
  it('releases a head, its data and its close in order whatever order they came in (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 40 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
            ),
          ),
        ([n, order]) => {
          const stalls: string[] = [];
          const s = new StreamOrder<number>({ onStall: (w) => stalls.push(w) });
          const released: number[] = [];
          for (const seq of order) released.push(...s.push(seq, seq));
          expect(released).toEqual([...Array(n).keys()]);
          expect(s.waiting).toBe(0);
          expect(stalls).toEqual([]);
          s.dispose();
        },
      ),
      { seed: 2412, numRuns: 300 },
    );
  });

  it('drops a duplicate, whether already released or still held', () => {
    const s = new StreamOrder<string>({ onStall: () => {} });
    expect(s.push(0, 'head')).toEqual(['head']);
    expect(s.push(0, 'head again')).toEqual([]);
    expect(s.push(2, 'b')).toEqual([]);
    expect(s.push(2, 'b again')).toEqual([]);
    expect(s.push(1, 'a')).toEqual(['a', 'b']);
    s.dispose();
  });

  it('gives the stream up when a gap does not fill in time, and takes nothing after', () => {
    vi.useFakeTimers();
    const stalls: string[] = [];
    const s = new StreamOrder<string>({ stallMs: 1000, onStall: (w) => stalls.push(w) });
    s.push(0, 'head');
    s.push(2, 'second');
    vi.advanceTimersByTime(999);
    expect(stalls).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(stalls).toEqual(['frame 1 did not arrive within 1000 ms']);
    expect(s.stalled).toBe(true);
    expect(s.push(1, 'first, too late')).toEqual([]);
  });

  it('does not time out once the gap fills', () => {
    vi.useFakeTimers();
    const stalls: string[] = [];
    const s = new StreamOrder<string>({ stallMs: 1000, onStall: (w) => stalls.push(w) });
    s.push(1, 'a');
    expect(s.push(0, 'head')).toEqual(['head', 'a']);
    vi.advanceTimersByTime(5000);
    expect(stalls).toEqual([]);
  });

  it('gives up on a frame too far ahead instead of holding without bound', () => {
    const stalls: string[] = [];
    const s = new StreamOrder<string>({ window: 4, onStall: (w) => stalls.push(w) });
    expect(s.push(4, 'far')).toEqual([]);
    expect(stalls).toEqual(['a frame arrived 4 ahead of the one awaited']);
  });
});

describe('StreamNumbering', () => {
  it('numbers from 1, the head being 0', () => {
    const n = new StreamNumbering();
    expect([n.next(), n.next(), n.next()]).toEqual([1, 2, 3]);
  });
});
