import { describe, expect, it } from 'vitest';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import type { MessageOf } from '../../shared/protocol/messages.ts';
import { OrderedReleaser } from '../../shared/protocol/ordering.ts';
import { ProtocolError } from '../../shared/protocol/protocol-error.ts';

type Reply = MessageOf<'env.result'>;
const reply = (seq: number): Reply => ({ ...EXAMPLES['env.result'], reqId: `r${seq}`, seq });

/** seq of each released item, with give-ups shown as "!<seq>". */
const seqs = (released: { type: string; seq?: number }[]) =>
  released.map((m) => (m.type === 'error' ? `!${m.seq}` : m.seq));

describe('OrderedReleaser', () => {
  it.each<{ name: string; arrivals: number[]; released: (number | string)[] }>([
    { name: 'in order', arrivals: [1, 2, 3], released: [1, 2, 3] },
    { name: 'reversed', arrivals: [3, 2, 1], released: [1, 2, 3] },
    { name: 'interleaved', arrivals: [2, 1, 4, 3, 5], released: [1, 2, 3, 4, 5] },
    { name: 'duplicates dropped', arrivals: [1, 1, 3, 3, 2, 2], released: [1, 2, 3] },
    { name: 'gap still open', arrivals: [1, 3, 4], released: [1] },
  ])('releases strictly in seq order: $name', ({ arrivals, released }) => {
    // Prepare
    const r = new OrderedReleaser<Reply>();
    // Act
    const out = arrivals.flatMap((seq) => r.push(reply(seq), 0));
    // Assess
    expect(seqs(out)).toEqual(released);
  });

  it('releases each reply exactly when the gap before it fills', () => {
    const r = new OrderedReleaser<Reply>();
    expect(seqs(r.push(reply(2), 0))).toEqual([]);
    expect(seqs(r.push(reply(3), 0))).toEqual([]);
    expect(r.waiting).toBe(2);
    expect(seqs(r.push(reply(1), 0))).toEqual([1, 2, 3]);
    expect(r.next).toBe(4);
    expect(r.waiting).toBe(0);
  });

  it('starts at a configurable first seq', () => {
    const r = new OrderedReleaser<Reply>({ firstSeq: 0 });
    expect(seqs(r.push(reply(1), 0))).toEqual([]);
    expect(seqs(r.push(reply(0), 0))).toEqual([0, 1]);
  });

  it('gives up on a missing seq giveUpMs after the first reply waiting behind it arrived', () => {
    // Prepare
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    r.push(reply(1), 0);
    r.push(reply(3), 100);
    r.push(reply(4), 600);
    // Act + Assess: not yet at 1099, then 2 is given up and 3, 4 flow.
    expect(r.poll(1099)).toEqual([]);
    const out = r.poll(1100);
    expect(seqs(out)).toEqual(['!2', 3, 4]);
    expect(out[0]).toMatchObject({
      v: 1,
      type: 'error',
      code: 'reply_timeout',
      seq: 2,
      message: expect.stringMatching(/no reply for request seq 2 within 1000 ms/),
    });
    expect(r.next).toBe(5);
  });

  it('gives up several missing seqs at once when they block the same replies', () => {
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    r.push(reply(4), 0);
    expect(seqs(r.poll(1000))).toEqual(['!1', '!2', '!3', 4]);
  });

  it('drops a reply that arrives after its seq was given up, and counts it', () => {
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    r.push(reply(2), 0);
    expect(seqs(r.poll(1000))).toEqual(['!1', 2]);
    expect(r.push(reply(1), 1001)).toEqual([]);
    expect(r.late).toBe(1);
  });

  it('with expect(), gives up a sent request even when no later reply shows the gap, naming its reqId', () => {
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    r.expect(1, 0, 'env-1');
    expect(r.poll(999)).toEqual([]);
    const out = r.poll(1000);
    expect(out).toEqual([
      expect.objectContaining({ type: 'error', code: 'reply_timeout', seq: 1, reqId: 'env-1' }),
    ]);
    expect(r.next).toBe(2);
  });

  it('counts from the send time when it is earlier than the arrival of the blocked reply', () => {
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    r.expect(1, 0);
    r.expect(2, 0);
    r.push(reply(2), 900);
    expect(seqs(r.poll(1000))).toEqual(['!1', 2]);
  });

  it('waits forever when nothing is sent and nothing is waiting (idle is not a gap)', () => {
    const r = new OrderedReleaser<Reply>({ giveUpMs: 1000 });
    expect(r.poll(1_000_000)).toEqual([]);
    expect(r.next).toBe(1);
  });

  it('refuses a seq implausibly far ahead instead of buffering without bound', () => {
    const r = new OrderedReleaser<Reply>({ window: 10 });
    expect(() => r.push(reply(11), 0)).toThrow(ProtocolError);
    expect(() => r.push(reply(1_000_000), 0)).toThrow(
      expect.objectContaining({ code: 'seq_out_of_window', message: expect.stringMatching(/awaited seq 1/) }),
    );
    expect(seqs(r.push(reply(10), 0))).toEqual([]);
    expect(r.waiting).toBe(1);
  });

  it('passes an error without seq straight through, while ordered replies wait', () => {
    const r = new OrderedReleaser<Reply | MessageOf<'error'>>();
    const general = { ...EXAMPLES.error, seq: undefined, reqId: undefined };
    expect(r.push(reply(2), 0)).toEqual([]);
    expect(r.push(general, 0)).toEqual([general]);
    expect(r.waiting).toBe(1);
  });

  it('releases error replies carrying a seq in order too', () => {
    const r = new OrderedReleaser<Reply | MessageOf<'error'>>();
    const failure = { ...EXAMPLES.error, seq: 1, reqId: 'r1' };
    expect(r.push(reply(2), 0)).toEqual([]);
    expect(r.push(failure, 0)).toEqual([failure, reply(2)]);
  });
});
