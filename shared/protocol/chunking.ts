import { randomUUID } from 'node:crypto';
import { encodeMessage } from './codec.ts';
import { replyIdsOf } from './error-frame.ts';
import { parseJsonText } from './json-text.ts';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_REASSEMBLED_BYTES } from './limits.ts';
import { MAX_CHUNKS } from './messages/chunk.ts';
import type { RoutingHead } from './messages/head.ts';
import type { CarriedMessage, ChunkMessage } from './messages.ts';
import { ProtocolError } from './protocol-error.ts';
import { headOf, overlayHead } from './routing-head.ts';
import { PROTOCOL_VERSION } from './version.ts';

/**
 * API Gateway drops WebSocket frames over 32 KB, so a larger message travels as `chunk`
 * frames: slices of its UTF-8 JSON bytes, base64-encoded (no JSON escaping to guess at, and a
 * multi-byte character split between two chunks is rejoined as bytes before decoding).
 */

export interface EncodeFramesOptions {
  /** Largest frame, in UTF-8 bytes (default: 32 KiB minus the router's headroom). */
  maxFrameBytes?: number;
  /** Refuse to send what the receiver would refuse to rebuild (default 8 MiB). */
  maxMessageBytes?: number;
  /** Id of the chunked message; unique per sender and session (default: a random UUID). */
  msgId?: string;
  /** Check the message against its schema first (default true); see `encodeMessage`. */
  validate?: boolean;
}

/** One frame when the message fits, else its chunks in order. Every frame fits `maxFrameBytes`. */
export function encodeFrames(msg: CarriedMessage, options: EncodeFramesOptions = {}): string[] {
  const maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_REASSEMBLED_BYTES;
  if ((msg as { type: string }).type === 'chunk') {
    throw new TypeError('encodeFrames: a chunk is already a frame; pass the message it carries');
  }
  const text = encodeMessage(msg, { validate: options.validate !== false });
  // Most messages are far below a frame: no need to copy them into bytes to know it.
  if (text.length * 3 <= maxFrameBytes) return [text];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > maxMessageBytes) {
    throw new ProtocolError(
      'too_large',
      `${msg.type} message is ${bytes.length} bytes, over the limit of ${maxMessageBytes} for one message`,
      { maxMessageBytes },
    );
  }
  if (bytes.length <= maxFrameBytes) return [text];

  const msgId = options.msgId ?? randomUUID();
  const head = headOf(msg);
  const frame = (seq: number, total: number, data: string): string =>
    JSON.stringify({
      v: PROTOCOL_VERSION,
      type: 'chunk',
      msgId,
      seq,
      total,
      head,
      data,
    } satisfies ChunkMessage);

  // The envelope grows with the digits of seq and total, which depend on the slice size:
  // size it for the largest seq and total, and repeat until the count stops changing.
  let total = 1;
  let slice = 0;
  for (;;) {
    const overhead = Buffer.byteLength(frame(total - 1, total, ''), 'utf8');
    slice = Math.floor((maxFrameBytes - overhead) / 4) * 3;
    if (slice <= 0) {
      throw new RangeError(
        `encodeFrames: maxFrameBytes ${maxFrameBytes} leaves no room for data after the ${overhead}-byte chunk envelope`,
      );
    }
    const needed = Math.ceil(bytes.length / slice);
    if (needed <= total) break;
    total = needed;
  }
  total = Math.ceil(bytes.length / slice);
  if (total > MAX_CHUNKS) {
    throw new ProtocolError(
      'too_large',
      `${msg.type} message needs ${total} chunks of ${maxFrameBytes} bytes, over the limit of ${MAX_CHUNKS}`,
    );
  }

  const frames: string[] = [];
  for (let seq = 0; seq < total; seq++) {
    const data = bytes.subarray(seq * slice, (seq + 1) * slice).toString('base64');
    frames.push(frame(seq, total, data));
  }
  return frames;
}

export interface ReassemblerOptions {
  /** Largest rebuilt message in UTF-8 bytes (default 8 MiB). */
  maxMessageBytes?: number;
  /** Most messages incomplete at once, all senders together (default 16). */
  maxPartials?: number;
  /** Most bytes held across all incomplete messages, all senders together (default 32 MiB). */
  maxBufferedBytes?: number;
  /** Most messages one sender may have incomplete at once (default 4). */
  maxPartialsPerSender?: number;
  /** Most bytes one sender's incomplete messages may hold (default 16 MiB). */
  maxBytesPerSender?: number;
  /** An incomplete message is dropped this long after its first chunk arrived (default 60 s). */
  expireAfterMs?: number;
}

/**
 * For a receiver that hears many senders at once (a connector: every developer's chunks come on
 * its one connection). Each sender's share is half the whole, so no one sender can crowd out
 * another; see `Reassembler`. These are also the defaults.
 */
export const SHARED_REASSEMBLY = {
  maxPartials: 16,
  maxBufferedBytes: 32 * 1024 * 1024,
  maxPartialsPerSender: 4,
  maxBytesPerSender: 16 * 1024 * 1024,
} as const satisfies ReassemblerOptions;

/**
 * For a receiver whose chunks all come from parties it trusts alike (the CLI hears only its own
 * session's traffic, from the clusters via the router): one sender may use the whole.
 */
export const SINGLE_SENDER_REASSEMBLY = {
  maxPartials: 16,
  maxBufferedBytes: 32 * 1024 * 1024,
  maxPartialsPerSender: 16,
  maxBytesPerSender: 32 * 1024 * 1024,
} as const satisfies ReassemblerOptions;

/**
 * A message given up on before it was whole: by `expire` (too old) or evicted to make room
 * (`takeEvicted`). Its head names who waits for it (`reqId`, `requestId`...).
 */
export interface ExpiredMessage {
  msgId: string;
  head: RoutingHead;
  received: number;
  total: number;
  error: ProtocolError;
}

interface Partial {
  key: string;
  sender: string;
  msgId: string;
  head: RoutingHead;
  headJson: string;
  total: number;
  parts: Map<number, Buffer>;
  bytes: number;
  firstAt: number;
}

/** What one sender holds: its incomplete messages, oldest first (Map keeps insertion order). */
interface Holdings {
  partials: Map<string, Partial>;
  bytes: number;
}

/**
 * Rebuilds chunked messages. Chunks may come in any order and more than once. Time is passed
 * in (`now`, ms) so that tests and callers own the clock; nothing here sets a timer.
 *
 * Memory stays bounded: per message, in count of incomplete messages, in total bytes held,
 * and in time (`expire`). The bounds are shared fairly between senders (the connector receives
 * chunks of every developer on one connection): a sender over its own share (per-sender count
 * and bytes) loses its own oldest incomplete message, never another sender's; when the shared
 * bounds are reached, the sender holding the most gives way. With the shared bounds at least
 * twice the per-sender ones, no single sender can make another's message within its share
 * fail. A new message is never refused for lack of room: someone's oldest is evicted instead,
 * and `takeEvicted` says whose, so the caller can fail what waited on it.
 */
export class Reassembler {
  readonly maxMessageBytes: number;
  readonly maxPartials: number;
  readonly maxBufferedBytes: number;
  readonly maxPartialsPerSender: number;
  readonly maxBytesPerSender: number;
  readonly expireAfterMs: number;
  readonly #partials = new Map<string, Partial>();
  readonly #senders = new Map<string, Holdings>();
  /** Messages completed or refused recently: their late or duplicate chunks are dropped, not restarted. */
  readonly #finished = new Map<string, number>();
  #evicted: ExpiredMessage[] = [];
  #bufferedBytes = 0;

  constructor(options: ReassemblerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_REASSEMBLED_BYTES;
    this.maxPartials = options.maxPartials ?? SHARED_REASSEMBLY.maxPartials;
    this.maxBufferedBytes = options.maxBufferedBytes ?? SHARED_REASSEMBLY.maxBufferedBytes;
    this.maxPartialsPerSender = Math.min(
      options.maxPartialsPerSender ?? SHARED_REASSEMBLY.maxPartialsPerSender,
      this.maxPartials,
    );
    this.maxBytesPerSender = Math.min(
      options.maxBytesPerSender ?? SHARED_REASSEMBLY.maxBytesPerSender,
      this.maxBufferedBytes,
    );
    this.expireAfterMs = options.expireAfterMs ?? 60_000;
  }

  get partialCount(): number {
    return this.#partials.size;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** Incomplete messages of one sender. */
  partialsOf(sender: string): number {
    return this.#senders.get(sender)?.partials.size ?? 0;
  }

  /** Messages evicted to make room since the last call: the caller fails what waited on them. */
  takeEvicted(): ExpiredMessage[] {
    const out = this.#evicted;
    this.#evicted = [];
    return out;
  }

  /**
   * Add one chunk. Returns the whole message when this chunk completes it, else `undefined`.
   * Throws a `ProtocolError` when the chunk breaks a rule; the message it belongs to is then
   * dropped, and its other chunks are ignored.
   *
   * `sender` is whom the chunk is budgeted to: whoever the receiver trusts to name the sender
   * (the router's stamp of the developer on a connector; by default the chunk's session).
   * Messages of different senders never share a key, so one cannot add to another's.
   */
  add(
    chunk: ChunkMessage,
    now: number,
    sender: string = chunk.head.sessionId ?? '',
  ): CarriedMessage | undefined {
    const key = `${sender}\n${chunk.head.sessionId ?? ''}\n${chunk.msgId}`;
    if (this.#finished.has(key)) return undefined;

    let partial = this.#partials.get(key);
    if (partial && now - partial.firstAt >= this.expireAfterMs) {
      this.#drop(partial, now);
      throw new ProtocolError('chunk_expired', this.#expiredText(partial), { msgId: chunk.msgId });
    }
    if (!partial) {
      this.#makeRoomForOne(sender, now);
      partial = {
        key,
        sender,
        msgId: chunk.msgId,
        head: chunk.head,
        headJson: JSON.stringify(chunk.head),
        total: chunk.total,
        parts: new Map(),
        bytes: 0,
        firstAt: now,
      };
      this.#partials.set(key, partial);
      this.#holdings(sender).partials.set(key, partial);
    }

    if (chunk.total !== partial.total) {
      this.#drop(partial, now);
      throw new ProtocolError(
        'chunk_mismatch',
        `chunk ${chunk.seq} of message ${chunk.msgId} says total ${chunk.total}, earlier chunks said ${partial.total}`,
        { msgId: chunk.msgId },
      );
    }
    if (JSON.stringify(chunk.head) !== partial.headJson) {
      this.#drop(partial, now);
      throw new ProtocolError(
        'chunk_mismatch',
        `chunk ${chunk.seq} of message ${chunk.msgId} carries a different head than earlier chunks`,
        { msgId: chunk.msgId },
      );
    }

    const data = Buffer.from(chunk.data, 'base64');
    const prior = partial.parts.get(chunk.seq);
    if (prior) {
      if (prior.equals(data)) return undefined; // a resent chunk: harmless
      this.#drop(partial, now);
      throw new ProtocolError(
        'chunk_mismatch',
        `chunk ${chunk.seq} of message ${chunk.msgId} arrived twice with different data`,
        { msgId: chunk.msgId },
      );
    }
    if (partial.bytes + data.length > this.maxMessageBytes) {
      this.#drop(partial, now);
      throw new ProtocolError(
        'too_large',
        `chunked message ${chunk.msgId} exceeds the limit of ${this.maxMessageBytes} bytes`,
        { msgId: chunk.msgId, maxBytes: this.maxMessageBytes },
      );
    }
    if (!this.#makeRoomForBytes(partial, data.length, now)) {
      this.#drop(partial, now);
      throw new ProtocolError(
        'too_large',
        `chunked message ${chunk.msgId} would make its sender hold more than the limit of ${this.maxBytesPerSender} bytes per sender (${this.maxBufferedBytes} in all) with nothing older of its own to give up`,
        { msgId: chunk.msgId, maxBufferedBytes: this.maxBufferedBytes },
      );
    }
    partial.parts.set(chunk.seq, data);
    partial.bytes += data.length;
    this.#holdings(sender).bytes += data.length;
    this.#bufferedBytes += data.length;
    if (partial.parts.size < partial.total) return undefined;

    this.#drop(partial, now);
    const ordered: Buffer[] = [];
    for (let seq = 0; seq < partial.total; seq++) ordered.push(partial.parts.get(seq)!);
    let value: unknown;
    try {
      value = parseJsonText(Buffer.concat(ordered).toString('utf8'));
    } catch (err) {
      const e = err as ProtocolError;
      throw new ProtocolError(e.code, `chunked message ${chunk.msgId}: ${e.message}`, e.details);
    }
    // Validated once, after the head is applied: the size was bounded chunk by chunk above.
    return overlayHead(value, partial.head);
  }

  /**
   * Drop messages incomplete for `expireAfterMs` and forget finished ones as old. Call it from
   * the caller's own tick. Each expired message comes back with its head, so the caller can fail
   * what waited on it (a stateful reply's `reqId`/`seq`, a stolen request's `requestId`).
   */
  expire(now: number): ExpiredMessage[] {
    const expired: ExpiredMessage[] = [];
    for (const partial of this.#partials.values()) {
      if (now - partial.firstAt < this.expireAfterMs) continue;
      this.#drop(partial, now);
      expired.push(
        this.#given(
          partial,
          new ProtocolError('chunk_expired', this.#expiredText(partial), {
            msgId: partial.msgId,
            replyTo: replyIdsOf(partial.head),
          }),
        ),
      );
    }
    for (const [key, at] of this.#finished) {
      if (now - at >= this.expireAfterMs) this.#finished.delete(key);
    }
    return expired;
  }

  /** Room for one more message of `sender`: its own oldest goes first, then the largest holder's. */
  #makeRoomForOne(sender: string, now: number): void {
    const own = this.#senders.get(sender);
    if (own && own.partials.size >= this.maxPartialsPerSender) {
      this.#evict(
        own.partials.values().next().value!,
        now,
        'too_many_partials',
        `its sender has ${own.partials.size} chunked messages incomplete (limit ${this.maxPartialsPerSender} per sender)`,
      );
    }
    if (this.#partials.size >= this.maxPartials) this.#expireInto(now);
    while (this.#partials.size >= this.maxPartials) {
      const victim = this.#heaviest(
        (h) => h.partials.size,
        (h) => h.bytes,
      )!;
      this.#evict(
        victim.partials.values().next().value!,
        now,
        'too_many_partials',
        `${this.#partials.size} chunked messages were incomplete (limit ${this.maxPartials}) and its sender held the most`,
      );
    }
  }

  /**
   * Room for `bytes` more in `partial`: the sender's own older messages go first when it is over
   * its share, then the oldest of whoever holds the most. False when `partial` itself is what
   * has to go (its sender holds the most and has nothing older to give up).
   */
  #makeRoomForBytes(partial: Partial, bytes: number, now: number): boolean {
    const own = this.#holdings(partial.sender);
    while (own.bytes + bytes > this.maxBytesPerSender) {
      const oldest = [...own.partials.values()].find((p) => p !== partial);
      if (!oldest) return false;
      this.#evict(
        oldest,
        now,
        'too_large',
        `its sender's incomplete chunked messages would pass ${this.maxBytesPerSender} bytes (the limit per sender)`,
      );
    }
    if (this.#bufferedBytes + bytes > this.maxBufferedBytes) this.#expireInto(now);
    while (this.#bufferedBytes + bytes > this.maxBufferedBytes) {
      const victim = this.#heaviest(
        (h) => h.bytes,
        (h) => h.partials.size,
      )!;
      const oldest = [...victim.partials.values()].find((p) => p !== partial);
      if (!oldest) return false;
      this.#evict(
        oldest,
        now,
        'too_large',
        `incomplete chunked messages would pass ${this.maxBufferedBytes} bytes and its sender held the most`,
      );
    }
    return true;
  }

  /** The sender holding the most by `first`, then by `second`; ties go to the one seen earliest. */
  #heaviest(first: (h: Holdings) => number, second: (h: Holdings) => number): Holdings | undefined {
    let best: Holdings | undefined;
    for (const h of this.#senders.values()) {
      if (h.partials.size === 0) continue;
      if (!best || first(h) > first(best) || (first(h) === first(best) && second(h) > second(best))) best = h;
    }
    return best;
  }

  #expireInto(now: number): void {
    this.#evicted.push(...this.expire(now));
  }

  #evict(partial: Partial, now: number, code: 'too_many_partials' | 'too_large', why: string): void {
    this.#drop(partial, now);
    this.#evicted.push(
      this.#given(
        partial,
        new ProtocolError(
          code,
          `chunked ${partial.head.type} message ${partial.msgId} was dropped incomplete: ${why}`,
          { msgId: partial.msgId, replyTo: replyIdsOf(partial.head) },
        ),
      ),
    );
  }

  /** `error` names what the message would have answered (`replyTo`), so its sender can be told. */
  #given(partial: Partial, error: ProtocolError): ExpiredMessage {
    return {
      msgId: partial.msgId,
      head: partial.head,
      received: partial.parts.size,
      total: partial.total,
      error,
    };
  }

  #holdings(sender: string): Holdings {
    let h = this.#senders.get(sender);
    if (!h) {
      h = { partials: new Map(), bytes: 0 };
      this.#senders.set(sender, h);
    }
    return h;
  }

  #drop(partial: Partial, now: number): void {
    if (this.#partials.delete(partial.key)) {
      this.#bufferedBytes -= partial.bytes;
      const h = this.#senders.get(partial.sender);
      if (h?.partials.delete(partial.key)) {
        h.bytes -= partial.bytes;
        // An idle sender costs nothing: the map holds only senders with something incomplete.
        if (h.partials.size === 0) this.#senders.delete(partial.sender);
      }
    }
    this.#finished.set(partial.key, now);
    // Bound the memory of finished ids too: forget the oldest first (Map keeps insertion order).
    if (this.#finished.size > 4 * this.maxPartials + 1024) {
      const oldest = this.#finished.keys().next().value;
      if (oldest !== undefined) this.#finished.delete(oldest);
    }
  }

  #expiredText(partial: Partial): string {
    return `chunked ${partial.head.type} message ${partial.msgId} stayed incomplete (${partial.parts.size} of ${partial.total} chunks) for ${this.expireAfterMs} ms and was dropped`;
  }
}
