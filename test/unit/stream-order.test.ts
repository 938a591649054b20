import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { StreamOrder, StreamParts, StreamReorderer } from '../../shared/protocol/stream-order.ts';

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

describe('StreamParts and StreamReorderer', () => {
  type F = { type: string; requestId: string; part?: number; reason?: string; n?: number };

  it('number a stream on one side and put it back in order on the other (property)', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 0, max: 20 })
          .chain((n) =>
            fc.tuple(
              fc.constant(n),
              fc.shuffledSubarray([...Array(n + 2).keys()], { minLength: n + 2, maxLength: n + 2 }),
            ),
          ),
        ([n, order]) => {
          const parts = new StreamParts();
          const sent: F[] = [{ type: 'response', requestId: 'r' }];
          for (let i = 0; i < n; i++)
            sent.push({ type: 'data', requestId: 'r', n: i, part: parts.number('data', 'r')! });
          sent.push({ type: 'close', requestId: 'r', part: parts.number('close', 'r')! });
          expect(parts.size).toBe(0);
          const got: F[] = [];
          const r = new StreamReorderer<F>(
            (f) => got.push(f),
            () => {},
          );
          for (const i of order) {
            const f = sent[i]!;
            if (f.type === 'response') r.head(f);
            else r.frame(f);
          }
          expect(got).toEqual(sent);
          expect(r.size).toBe(0);
        },
      ),
      { seed: 77, numRuns: 300 },
    );
  });

  it('lets an abort through at once, ahead of the body it stops, and forgets the stream', () => {
    const got: F[] = [];
    const r = new StreamReorderer<F>(
      (f) => got.push(f),
      () => {},
    );
    r.frame({ type: 'data', requestId: 'r', part: 1 });
    expect(got).toEqual([]);
    r.frame({ type: 'close', requestId: 'r', reason: 'the client went away' });
    expect(got).toEqual([{ type: 'close', requestId: 'r', reason: 'the client went away' }]);
    expect(r.size).toBe(0);
  });

  it('passes frames without a part as they come (a sender that does not number)', () => {
    const got: F[] = [];
    const r = new StreamReorderer<F>(
      (f) => got.push(f),
      () => {},
    );
    r.frame({ type: 'data', requestId: 'r' });
    r.frame({ type: 'close', requestId: 'r' });
    expect(got.map((f) => f.type)).toEqual(['data', 'close']);
  });

  it('reports a stream whose gap does not fill, once, by request id', () => {
    vi.useFakeTimers();
    const stalls: string[] = [];
    const r = new StreamReorderer<F>(
      () => {},
      (id, why) => stalls.push(`${id}: ${why}`),
      { stallMs: 500 },
    );
    r.head({ type: 'response', requestId: 'r' });
    r.frame({ type: 'data', requestId: 'r', part: 2 });
    vi.advanceTimersByTime(500);
    expect(stalls).toEqual(['r: frame 1 did not arrive within 500 ms']);
    expect(r.size).toBe(0);
  });

  it('forgets the streams of one owner together', () => {
    const parts = new StreamParts();
    parts.number('data', 'a', undefined, 'alice');
    parts.number('data', 'b', undefined, 'bob');
    parts.forgetOwner('alice');
    expect(parts.size).toBe(1);
    expect(parts.number('data', 'a', undefined, 'alice')).toBe(1);
    expect(parts.number('close', 'b', 'cut')).toBeUndefined();
  });
});
