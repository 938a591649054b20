import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { senderOf } from '../../client-transport/peer.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { encodeFrames, Reassembler, type ReassemblerOptions } from '../../shared/protocol/chunking.ts';
import { parseMessage } from '../../shared/protocol/codec.ts';
import { EXAMPLES } from '../../shared/protocol/examples.ts';
import type { CarriedMessage, ChunkMessage } from '../../shared/protocol/messages.ts';
import { ProtocolError } from '../../shared/protocol/protocol-error.ts';
import { ownerKey } from '../../shared/routing/owner-key.ts';
import { route } from '../../shared/routing/route.ts';

/**
 * One reassembler serves every developer on a connector's connection. Whatever Bob sends (any
 * number of sessions, never-finished messages, broken chunks), Alice's complete chunked message
 * within her share is rebuilt.
 */

const FRAME = 4000;
const ALICE = 'owner:alice';
const BOB = 'owner:bob';

/** A chunked `response` of about `size` body bytes from `sessionId`, cut into small frames. */
function chunked(
  sessionId: string,
  msgId: string,
  size: number,
  fill = 1,
): { msg: CarriedMessage; chunks: ChunkMessage[] } {
  const msg = {
    ...EXAMPLES.response,
    sessionId,
    requestId: `east:${msgId}`,
    body: Buffer.alloc(size, fill).toString('base64'),
  } as CarriedMessage;
  const chunks = encodeFrames(msg, { maxFrameBytes: FRAME, msgId }).map(
    (f) => parseMessage(f) as ChunkMessage,
  );
  return { msg, chunks };
}

function expectProtocolError(fn: () => unknown): ProtocolError | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
}

// Small bounds, so that a few chunks reach them: shared bounds twice the per-sender ones.
const SMALL: ReassemblerOptions = {
  maxMessageBytes: 20_000,
  maxPartials: 4,
  maxPartialsPerSender: 2,
  maxBufferedBytes: 48_000,
  maxBytesPerSender: 24_000,
};

describe('Reassembler fairness between senders', () => {
  it('rebuilds Alice’s message while Bob, on many sessions, keeps starting messages he never finishes', () => {
    const r = new Reassembler(SMALL);
    const alice = chunked('ses-alice', 'a1', 12_000, 2);
    r.add(alice.chunks[0]!, 0, ALICE);
    for (let i = 0; i < 40; i++) {
      const bob = chunked(`ses-bob-${i % 7}`, `b${i}`, 15_000);
      r.add(bob.chunks[0]!, 0, BOB);
      r.add(bob.chunks[1]!, 0, BOB);
      expect(r.partialsOf(BOB)).toBeLessThanOrEqual(SMALL.maxPartialsPerSender!);
    }
    let whole: CarriedMessage | undefined;
    for (const c of alice.chunks.slice(1)) whole = r.add(c, 0, ALICE) ?? whole;
    expect(whole).toEqual(alice.msg);
    // Bob lost only his own: each eviction named one of his messages, and says why.
    const evicted = r.takeEvicted();
    expect(evicted.length).toBeGreaterThan(30);
    for (const e of evicted) expect(e.head.sessionId).toMatch(/^ses-bob-/);
    expect(evicted[0]!.error.code).toMatch(/^(too_many_partials|too_large)$/);
    expect(evicted[0]!.error.details?.replyTo).toMatchObject({
      sessionId: expect.stringMatching(/^ses-bob-/),
    });
  });

  it('makes the sender that holds the most give way when the shared bounds are reached', () => {
    // Four senders each at their per-sender count: a fifth's new message evicts the heaviest's oldest.
    const r = new Reassembler({ maxPartials: 4, maxPartialsPerSender: 2 });
    r.add(chunked('s1', 'x1', 9000).chunks[0]!, 0, 'owner:x');
    r.add(chunked('s1', 'x2', 9000).chunks[0]!, 1, 'owner:x');
    r.add(chunked('s2', 'y1', 9000).chunks[0]!, 2, 'owner:y');
    r.add(chunked('s3', 'z1', 9000).chunks[0]!, 3, 'owner:z');
    expect(r.partialCount).toBe(4);
    expect(r.add(chunked('s4', 'w1', 9000).chunks[0]!, 4, 'owner:w')).toBeUndefined();
    expect(r.takeEvicted().map((e) => e.msgId)).toEqual(['x1']);
    expect([r.partialsOf('owner:x'), r.partialsOf('owner:y'), r.partialsOf('owner:w')]).toEqual([1, 1, 1]);
  });

  it('keeps a sender’s messages apart from another sender’s with the same session and msgId', () => {
    const r = new Reassembler(SMALL);
    const real = chunked('ses-1', 'same', 9000, 4);
    const forged = chunked('ses-1', 'same', 9000, 9);
    r.add(forged.chunks[0]!, 0, BOB);
    let whole: CarriedMessage | undefined;
    for (const c of real.chunks) whole = r.add(c, 0, ALICE) ?? whole;
    expect(whole).toEqual(real.msg);
  });

  it('property: whatever Bob sends, Alice’s complete message within her share is rebuilt', () => {
    const bobMessage = fc.record({
      session: fc.integer({ min: 0, max: 9 }),
      size: fc.integer({ min: 3000, max: 14_000 }),
    });
    const bobStep = fc.record({
      message: fc.nat(),
      chunk: fc.nat(),
      /** What Bob does with the chunk: send it, send it with other data, or claim another total. */
      how: fc.constantFrom('send', 'send', 'send', 'corrupt', 'retotal'),
    });
    fc.assert(
      fc.property(
        fc.array(bobMessage, { minLength: 1, maxLength: 12 }),
        fc.array(bobStep, { maxLength: 80 }),
        fc.integer({ min: 4000, max: 12_000 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (bobMessages, steps, aliceSize, alicePositions) => {
          const r = new Reassembler(SMALL);
          const bob = bobMessages.map((m, i) => chunked(`bob-${m.session}`, `b${i}`, m.size).chunks);
          const alice = chunked('alice-1', 'a', aliceSize, 6);
          // Alice's chunks go in at positions among Bob's steps, in order; the rest at the end.
          const at = alicePositions.map((p) => p % (steps.length + 1)).sort((a, b) => a - b);
          let next = 0;
          let whole: CarriedMessage | undefined;
          const aliceSends = (upTo: number) => {
            while (next < alice.chunks.length && (at[next] ?? Number.POSITIVE_INFINITY) <= upTo) {
              whole = r.add(alice.chunks[next++]!, 0, ALICE) ?? whole;
            }
          };
          steps.forEach((step, i) => {
            aliceSends(i);
            const chunks = bob[step.message % bob.length]!;
            const c = chunks[step.chunk % chunks.length]!;
            const sent =
              step.how === 'corrupt'
                ? { ...c, data: Buffer.from('not the same bytes').toString('base64') }
                : step.how === 'retotal'
                  ? { ...c, total: c.total + 1 }
                  : c;
            expectProtocolError(() => r.add(sent, 0, BOB));
            expect(r.partialsOf(BOB)).toBeLessThanOrEqual(SMALL.maxPartialsPerSender!);
            expect(r.bufferedBytes).toBeLessThanOrEqual(SMALL.maxBufferedBytes!);
          });
          while (next < alice.chunks.length) whole = r.add(alice.chunks[next++]!, 0, ALICE) ?? whole;
          expect(whole).toEqual(alice.msg);
          for (const e of r.takeEvicted()) expect(e.head.sessionId).not.toBe('alice-1');
        },
      ),
      { seed: 20261202, numRuns: 150 },
    );
  });
});

describe('the router names the owner of a developer’s chunks', () => {
  const topology = parseTopology({ clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }] });
  const big = chunked('ses-a', 'm1', 9000).chunks[0]!;

  it('stamps its key of the owner on a client’s chunk, replacing any the client claims', () => {
    const key = ownerKey('developer:alice');
    expect(key).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(key).not.toContain('alice');
    expect(ownerKey('developer:bob')).not.toBe(key);
    const claimed = { ...big, owner: ownerKey('developer:bob') };
    const decision = route(claimed, { kind: 'client', sessionId: 'ses-a', owner: key }, topology);
    expect(decision).toMatchObject({ to: 'cluster', message: { type: 'chunk', owner: key } });
    const out = (decision as { message: ChunkMessage }).message;
    expect(senderOf(out)).toBe(`owner:${key}`);
    // Without an owner from the router (no stamp), a claimed one is dropped: the session counts.
    const bare = route(claimed, { kind: 'client', sessionId: 'ses-a' }, topology) as {
      message: ChunkMessage;
    };
    expect(bare.message.owner).toBeUndefined();
    expect(senderOf(bare.message)).toBe('session:ses-a');
  });

  it('strips an owner a connector puts on its chunks toward a developer', () => {
    const fromCluster = chunked('ses-a', 'm2', 9000).chunks[0]!;
    const request = {
      ...fromCluster,
      head: { type: 'request' as const, sessionId: 'ses-a', requestId: '41' },
      owner: 'forged',
    };
    const decision = route(request, { kind: 'cluster', clusterId: 'east' }, topology) as {
      to: string;
      message: ChunkMessage;
    };
    expect(decision.to).toBe('client');
    expect(decision.message.owner).toBeUndefined();
  });
});
