import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrames, Reassembler } from '../../shared/protocol/chunking.ts';
import { encodeMessage, parseMessage } from '../../shared/protocol/codec.ts';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import { API_GATEWAY_FRAME_BYTES, DEFAULT_MAX_FRAME_BYTES } from '../../shared/protocol/limits.ts';
import { MAX_CHUNKS } from '../../shared/protocol/messages/chunk.ts';
import type { CarriedMessage, ChunkMessage } from '../../shared/protocol/messages.ts';
import { ProtocolError } from '../../shared/protocol/protocol-error.ts';

const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

/** An `env.result` whose values hold about `size` bytes of `char` (multi-byte by default). */
function bigEnv(size: number, char = 'é'): CarriedMessage {
  const env: Record<string, string> = {};
  const perValue = Math.ceil(30_000 / bytes(char));
  for (let i = 0, left = size; left > 0; i++, left -= perValue * bytes(char)) {
    env[`K${i}`] = char.repeat(Math.min(perValue, Math.ceil(left / bytes(char))));
  }
  return { ...EXAMPLES['env.result'], env } as CarriedMessage;
}

/** A `request` with a body of `size` bytes. */
function bigRequest(size: number): CarriedMessage {
  return { ...EXAMPLES.request, body: Buffer.alloc(size, 7).toString('base64') } as CarriedMessage;
}

const chunksOf = (frames: string[]): ChunkMessage[] => frames.map((f) => parseMessage(f) as ChunkMessage);

function reassemble(chunks: ChunkMessage[], r = new Reassembler(), now = 0): CarriedMessage | undefined {
  let out: CarriedMessage | undefined;
  for (const c of chunks) {
    const got = r.add(c, now);
    if (got) {
      expect(out).toBeUndefined(); // a message completes once
      out = got;
    }
  }
  return out;
}

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error('expected a ProtocolError');
}

describe('encodeFrames', () => {
  it('keeps 32 KiB frames with 1 KiB of headroom for the router by default', () => {
    expect(API_GATEWAY_FRAME_BYTES).toBe(32 * 1024);
    expect(DEFAULT_MAX_FRAME_BYTES).toBe(31 * 1024);
  });

  it('sends a small message as itself, in one frame', () => {
    const frames = encodeFrames(EXAMPLES.request);
    expect(frames).toEqual([encodeMessage(EXAMPLES.request)]);
  });

  it('sends a message of exactly maxFrameBytes whole, and one byte more as chunks', () => {
    const max = 2000;
    const padded = (n: number) =>
      ({ ...EXAMPLES.ping, nonce: undefined, pad: 'a'.repeat(n) }) as unknown as CarriedMessage;
    const base = bytes(encodeMessage(padded(0)));
    const exact = padded(max - base);
    expect(bytes(encodeMessage(exact))).toBe(max);
    expect(encodeFrames(exact, { maxFrameBytes: max })).toHaveLength(1);
    const over = encodeFrames(padded(max - base + 1), { maxFrameBytes: max });
    expect(over.length).toBeGreaterThan(1);
    expect(parseMessage(over[0]!).type).toBe('chunk');
  });

  it.each([
    ['2-byte é', 'é'],
    ['3-byte 漢', '漢'],
    ['4-byte 🚀', '🚀'],
    ['ASCII that JSON escapes', '"\\\n'],
  ])('cuts a 200 KB message of %s into frames within the byte limit and rebuilds it', (_name, char) => {
    // Prepare
    const msg = bigEnv(200_000, char);
    // Act
    const frames = encodeFrames(msg);
    // Assess
    expect(frames.length).toBeGreaterThan(6);
    for (const f of frames) expect(bytes(f)).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    const chunks = chunksOf(frames);
    expect(new Set(chunks.map((c) => c.msgId)).size).toBe(1);
    expect(chunks.map((c) => c.seq)).toEqual(frames.map((_, i) => i));
    expect(chunks.every((c) => c.total === frames.length)).toBe(true);
    expect(reassemble(chunks)).toEqual(msg);
  });

  it('fills frames: all but the last are within 4 bytes of the limit', () => {
    const frames = encodeFrames(bigRequest(100_000), { maxFrameBytes: 4096 });
    for (const f of frames.slice(0, -1)) expect(bytes(f)).toBeGreaterThan(4096 - 8);
  });

  it('copies the routing fields into every chunk head', () => {
    const msg = { ...bigRequest(50_000), sessionId: 'ses-1' } as CarriedMessage;
    const chunks = chunksOf(encodeFrames(msg, { msgId: 'm1' }));
    for (const c of chunks) {
      expect(c.msgId).toBe('m1');
      expect(c.head).toEqual({
        type: 'request',
        sessionId: 'ses-1',
        subId: 's1',
        requestId: 'us-east:41',
        cluster: 'us-east',
      });
    }
  });

  it('refuses a message the receiver would refuse to rebuild', () => {
    const err = protocolError(() => encodeFrames(bigRequest(10_000), { maxMessageBytes: 5000 }));
    expect(err.code).toBe('too_large');
    expect(err.message).toMatch(/over the limit of 5000/);
  });

  it(`refuses a message that needs more than ${MAX_CHUNKS} chunks`, () => {
    const err = protocolError(() => encodeFrames(bigRequest(1_500_000), { maxFrameBytes: 400 }));
    expect(err.code).toBe('too_large');
    expect(err.message).toMatch(/chunks/);
  });

  it('refuses a frame size that leaves no room for data, and a chunk as input', () => {
    expect(() => encodeFrames(bigRequest(5000), { maxFrameBytes: 100 })).toThrow(RangeError);
    expect(() => encodeFrames(EXAMPLES.chunk as unknown as CarriedMessage)).toThrow(TypeError);
  });

  it('round-trips any text under any frame size (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 6000 }),
        fc.integer({ min: 400, max: 3000 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (text, maxFrameBytes, seed) => {
          const msg = { ...EXAMPLES['env.result'], env: { TEXT: text } } as CarriedMessage;
          const frames = encodeFrames(msg, { maxFrameBytes });
          for (const f of frames) expect(bytes(f)).toBeLessThanOrEqual(maxFrameBytes);
          if (frames.length === 1) {
            expect(parseMessage(frames[0]!)).toEqual(msg);
            return;
          }
          // Deliver in a shuffled order with a duplicate.
          const chunks = chunksOf(frames);
          const order = chunks
            .map((_, i) => i)
            .sort((a, b) => ((a * 7919 + seed) % 101) - ((b * 7919 + seed) % 101));
          const shuffled = [...order.map((i) => chunks[i]!), chunks[0]!];
          const r = new Reassembler();
          const outs = shuffled.map((c) => r.add(c, 0)).filter((m) => m !== undefined);
          expect(outs).toEqual([msg]);
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Reassembler', () => {
  const msg = bigRequest(20_000);
  const chunks = () => chunksOf(encodeFrames(msg, { maxFrameBytes: 4000, msgId: 'm1' }));

  it('rebuilds a message from chunks in reverse order', () => {
    expect(reassemble(chunks().reverse())).toEqual(msg);
  });

  it('returns nothing until the last chunk, and holds the bytes meanwhile', () => {
    const r = new Reassembler();
    const all = chunks();
    for (const c of all.slice(0, -1)) expect(r.add(c, 0)).toBeUndefined();
    expect(r.partialCount).toBe(1);
    expect(r.bufferedBytes).toBeGreaterThan(0);
    expect(r.add(all.at(-1)!, 0)).toEqual(msg);
    expect(r.partialCount).toBe(0);
    expect(r.bufferedBytes).toBe(0);
  });

  it('tolerates duplicate chunks, before and after completion', () => {
    const r = new Reassembler();
    const all = chunks();
    const withDupes = [all[0]!, all[0]!, ...all.slice(1), all[1]!, all.at(-1)!];
    expect(reassemble(withDupes, r)).toEqual(msg);
    expect(r.partialCount).toBe(0);
  });

  it('refuses a duplicate chunk with different data', () => {
    const r = new Reassembler();
    const [first, second] = chunks();
    r.add(first!, 0);
    const forged = { ...first!, data: second!.data };
    const err = protocolError(() => r.add(forged, 0));
    expect(err.code).toBe('chunk_mismatch');
    expect(err.message).toMatch(/arrived twice with different data/);
  });

  it('refuses an inconsistent total and drops the message, ignoring its later chunks', () => {
    const r = new Reassembler();
    const all = chunks();
    r.add(all[0]!, 0);
    const err = protocolError(() => r.add({ ...all[1]!, total: all[1]!.total + 1 }, 0));
    expect(err.code).toBe('chunk_mismatch');
    expect(err.message).toMatch(/says total \d+, earlier chunks said \d+/);
    expect(r.partialCount).toBe(0);
    for (const c of all.slice(2)) expect(r.add(c, 0)).toBeUndefined();
    expect(r.partialCount).toBe(0);
  });

  it('refuses chunks of one message with different heads', () => {
    const r = new Reassembler();
    const all = chunks();
    r.add(all[0]!, 0);
    const err = protocolError(() => r.add({ ...all[1]!, head: { ...all[1]!.head, requestId: 'x:1' } }, 0));
    expect(err.code).toBe('chunk_mismatch');
  });

  it('keeps messages of different sessions apart even with the same msgId', () => {
    const a = { ...bigEnv(9000, 'a'), sessionId: 'ses-a' } as CarriedMessage;
    const b = { ...bigEnv(9000, 'b'), sessionId: 'ses-b' } as CarriedMessage;
    const ca = chunksOf(encodeFrames(a, { maxFrameBytes: 4000, msgId: 'same' }));
    const cb = chunksOf(encodeFrames(b, { maxFrameBytes: 4000, msgId: 'same' }));
    const r = new Reassembler();
    const interleaved = ca.flatMap((c, i) => [c, cb[i]!]);
    const outs = interleaved.map((c) => r.add(c, 0)).filter((m) => m !== undefined);
    expect(outs).toEqual([a, b]);
  });

  it('refuses a message over maxMessageBytes with too_large and frees its bytes', () => {
    const r = new Reassembler({ maxMessageBytes: 10_000 });
    const err = protocolError(() => reassemble(chunks(), r));
    expect(err.code).toBe('too_large');
    expect(err.message).toMatch(/exceeds the limit of 10000 bytes/);
    expect(r.bufferedBytes).toBe(0);
  });

  it('keeps a sender within its bytes by evicting its own oldest message, reported by takeEvicted', () => {
    const r = new Reassembler({ maxBufferedBytes: 5000 });
    const a = chunksOf(encodeFrames(bigRequest(9000), { maxFrameBytes: 4000, msgId: 'a' }));
    const b = chunksOf(encodeFrames(bigRequest(9000), { maxFrameBytes: 4000, msgId: 'b' }));
    r.add(a[0]!, 0);
    expect(r.add(b[0]!, 0)).toBeUndefined();
    const [evicted, ...more] = r.takeEvicted();
    expect(more).toEqual([]);
    expect(evicted).toMatchObject({ msgId: 'a', received: 1, total: a.length });
    expect(evicted!.error.code).toBe('too_large');
    expect(evicted!.error.message).toMatch(/would pass 5000 bytes \(the limit per sender\)/);
    expect(r.partialCount).toBe(1);
    // A late chunk of the evicted message is dropped, not the start of a new one.
    expect(r.add(a[1]!, 0)).toBeUndefined();
    expect(r.partialCount).toBe(1);
  });

  it('refuses a message that alone would pass what its sender may hold', () => {
    const r = new Reassembler({ maxBufferedBytes: 5000 });
    const a = chunksOf(encodeFrames(bigRequest(9000), { maxFrameBytes: 4000, msgId: 'a' }));
    r.add(a[0]!, 0);
    const err = protocolError(() => r.add(a[1]!, 0));
    expect(err.code).toBe('too_large');
    expect(err.message).toMatch(/limit of 5000/);
    expect(r.partialCount).toBe(0);
    expect(r.bufferedBytes).toBe(0);
  });

  it('past maxPartialsPerSender, drops the sender’s own oldest incomplete message for its new one', () => {
    const r = new Reassembler({ maxPartials: 2, expireAfterMs: 1000 });
    const first = (id: string) =>
      chunksOf(encodeFrames(bigRequest(9000), { maxFrameBytes: 4000, msgId: id }))[0]!;
    r.add(first('a'), 0);
    r.add(first('b'), 500);
    expect(r.add(first('c'), 900)).toBeUndefined();
    const evicted = r.takeEvicted();
    expect(evicted.map((e) => e.msgId)).toEqual(['a']);
    expect(evicted[0]!.error.code).toBe('too_many_partials');
    expect(evicted[0]!.error.message).toMatch(/limit 2 per sender/);
    expect(r.partialCount).toBe(2);
  });

  it('expires incomplete messages, returning their head so the waiter can be failed', () => {
    const stateful = {
      ...EXAMPLES['file.result'],
      data: Buffer.alloc(9000, 1).toString('base64'),
    } as CarriedMessage;
    const r = new Reassembler({ expireAfterMs: 1000 });
    const all = chunksOf(encodeFrames(stateful, { maxFrameBytes: 4000, msgId: 'f1' }));
    r.add(all[0]!, 100);
    expect(r.expire(1099)).toEqual([]);
    const expired = r.expire(1100);
    expect(expired).toHaveLength(1);
    expect(expired[0]).toMatchObject({
      msgId: 'f1',
      received: 1,
      total: all.length,
      head: { type: 'file.result', reqId: 'r2', seq: 2 },
    });
    expect(expired[0]!.error.code).toBe('chunk_expired');
    expect(expired[0]!.error.message).toMatch(/stayed incomplete \(1 of \d+ chunks\) for 1000 ms/);
    expect(r.partialCount).toBe(0);
    expect(r.bufferedBytes).toBe(0);
    // Its late chunks are dropped, not the start of a new message.
    expect(r.add(all[1]!, 1200)).toBeUndefined();
    expect(r.partialCount).toBe(0);
  });

  it('reports chunk_expired when a chunk arrives for a message past its time before any sweep', () => {
    const r = new Reassembler({ expireAfterMs: 1000 });
    const all = chunks();
    r.add(all[0]!, 0);
    expect(protocolError(() => r.add(all[1]!, 1000)).code).toBe('chunk_expired');
  });

  it('forgets finished ids after the expiry window, so a reused msgId works again', () => {
    const r = new Reassembler({ expireAfterMs: 1000 });
    expect(reassemble(chunks(), r, 0)).toEqual(msg);
    expect(reassemble(chunks(), r, 10)).toBeUndefined();
    r.expire(2000);
    expect(reassemble(chunks(), r, 2000)).toEqual(msg);
  });

  it('lets the head win over the same fields inside the message (the router rewrote it)', () => {
    const original = { ...bigRequest(9000), requestId: '41', cluster: 'spoofed' } as CarriedMessage;
    const routed = chunksOf(encodeFrames(original, { maxFrameBytes: 4000 })).map((c) => ({
      ...c,
      head: { ...c.head, requestId: 'us-east:41', cluster: 'us-east', sessionId: 'ses-1' },
    }));
    const out = reassemble(routed) as CarriedMessage & { requestId: string };
    expect(out).toMatchObject({ requestId: 'us-east:41', cluster: 'us-east', sessionId: 'ses-1' });
  });

  it('removes a routing field the head does not have', () => {
    const original = { ...bigRequest(9000), cluster: 'spoofed' } as CarriedMessage;
    const routed = chunksOf(encodeFrames(original, { maxFrameBytes: 4000 })).map((c) => {
      const { cluster: _dropped, ...head } = c.head;
      return { ...c, head };
    });
    expect(reassemble(routed)).not.toHaveProperty('cluster');
  });

  it('refuses chunks that rebuild a different type than their head says', () => {
    const routed = chunksOf(encodeFrames(bigRequest(9000), { maxFrameBytes: 4000 })).map((c) => ({
      ...c,
      head: { type: 'data' as const, requestId: 'us-east:41' },
    }));
    const err = protocolError(() => reassemble(routed));
    expect(err.code).toBe('chunk_mismatch');
    expect(err.message).toMatch(/rebuild a request message but their head says data/);
  });

  it('refuses chunks that rebuild a chunk, and chunks that rebuild no JSON', () => {
    const inner = Buffer.from(JSON.stringify(EXAMPLES.chunk));
    const nested: ChunkMessage = {
      v: 1,
      type: 'chunk',
      msgId: 'n',
      seq: 0,
      total: 1,
      head: { type: 'ping' },
      data: inner.toString('base64'),
    };
    expect(protocolError(() => new Reassembler().add(nested, 0)).code).toBe('invalid_message');
    const garbage = { ...nested, msgId: 'g', data: Buffer.from('{"v":1,').toString('base64') };
    expect(protocolError(() => new Reassembler().add(garbage, 0)).code).toBe('malformed_json');
  });
});
