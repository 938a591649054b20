import { randomUUID } from 'node:crypto';
import { encodeMessage } from './codec.ts';
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
  /** Most messages incomplete at once (default 16). */
  maxPartials?: number;
  /** Most bytes held across all incomplete messages (default 32 MiB). */
  maxBufferedBytes?: number;
  /** An incomplete message is dropped this long after its first chunk arrived (default 60 s). */
  expireAfterMs?: number;
}

/** A message given up on by `expire`: its head names who waits for it (`reqId`, `requestId`...). */
export interface ExpiredMessage {
  msgId: string;
  head: RoutingHead;
  received: number;
  total: number;
  error: ProtocolError;
}

interface Partial {
  msgId: string;
  head: RoutingHead;
  headJson: string;
  total: number;
  parts: Map<number, Buffer>;
  bytes: number;
  firstAt: number;
}

/**
 * Rebuilds chunked messages. Chunks may come in any order and more than once. Time is passed
 * in (`now`, ms) so that tests and callers own the clock; nothing here sets a timer.
 *
 * Memory stays bounded: per message, in count of incomplete messages, in total bytes held,
 * and in time (`expire`). Messages are keyed by session and `msgId`, because a connector
 * receives chunks of many sessions on one connection.
 */
export class Reassembler {
  readonly maxMessageBytes: number;
  readonly maxPartials: number;
  readonly maxBufferedBytes: number;
  readonly expireAfterMs: number;
  readonly #partials = new Map<string, Partial>();
  /** Messages completed or refused recently: their late or duplicate chunks are dropped, not restarted. */
  readonly #finished = new Map<string, number>();
  #bufferedBytes = 0;

  constructor(options: ReassemblerOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_REASSEMBLED_BYTES;
    this.maxPartials = options.maxPartials ?? 16;
    this.maxBufferedBytes = options.maxBufferedBytes ?? 32 * 1024 * 1024;
    this.expireAfterMs = options.expireAfterMs ?? 60_000;
  }

  get partialCount(): number {
    return this.#partials.size;
  }

  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /**
   * Add one chunk. Returns the whole message when this chunk completes it, else `undefined`.
   * Throws a `ProtocolError` when the chunk breaks a rule; the message it belongs to is then
   * dropped, and its other chunks are ignored.
   */
  add(chunk: ChunkMessage, now: number): CarriedMessage | undefined {
    const key = `${chunk.head.sessionId ?? ''}\n${chunk.msgId}`;
    if (this.#finished.has(key)) return undefined;

    let partial = this.#partials.get(key);
    if (partial && now - partial.firstAt >= this.expireAfterMs) {
      this.#drop(key, partial, now);
      throw new ProtocolError('chunk_expired', this.#expiredText(partial), { msgId: chunk.msgId });
    }
    if (!partial) {
      if (this.#partials.size >= this.maxPartials) this.expire(now);
      if (this.#partials.size >= this.maxPartials) {
        throw new ProtocolError(
          'too_many_partials',
          `${this.#partials.size} chunked messages are already incomplete (limit ${this.maxPartials}): finish sending one before starting another`,
          { msgId: chunk.msgId },
        );
      }
      partial = {
        msgId: chunk.msgId,
        head: chunk.head,
        headJson: JSON.stringify(chunk.head),
        total: chunk.total,
        parts: new Map(),
        bytes: 0,
        firstAt: now,
      };
      this.#partials.set(key, partial);
    }

    if (chunk.total !== partial.total) {
      this.#drop(key, partial, now);
      throw new ProtocolError(
        'chunk_mismatch',
        `chunk ${chunk.seq} of message ${chunk.msgId} says total ${chunk.total}, earlier chunks said ${partial.total}`,
        { msgId: chunk.msgId },
      );
    }
    if (JSON.stringify(chunk.head) !== partial.headJson) {
      this.#drop(key, partial, now);
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
      this.#drop(key, partial, now);
      throw new ProtocolError(
        'chunk_mismatch',
        `chunk ${chunk.seq} of message ${chunk.msgId} arrived twice with different data`,
        { msgId: chunk.msgId },
      );
    }
    if (partial.bytes + data.length > this.maxMessageBytes) {
      this.#drop(key, partial, now);
      throw new ProtocolError(
        'too_large',
        `chunked message ${chunk.msgId} exceeds the limit of ${this.maxMessageBytes} bytes`,
        { msgId: chunk.msgId, maxBytes: this.maxMessageBytes },
      );
    }
    if (this.#bufferedBytes + data.length > this.maxBufferedBytes) {
      this.#drop(key, partial, now);
      throw new ProtocolError(
        'too_large',
        `incomplete chunked messages hold ${this.#bufferedBytes} bytes; adding chunk ${chunk.seq} of ${chunk.msgId} would pass the limit of ${this.maxBufferedBytes}`,
        { msgId: chunk.msgId, maxBufferedBytes: this.maxBufferedBytes },
      );
    }
    partial.parts.set(chunk.seq, data);
    partial.bytes += data.length;
    this.#bufferedBytes += data.length;
    if (partial.parts.size < partial.total) return undefined;

    this.#drop(key, partial, now);
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
    for (const [key, partial] of this.#partials) {
      if (now - partial.firstAt < this.expireAfterMs) continue;
      this.#drop(key, partial, now);
      expired.push({
        msgId: partial.msgId,
        head: partial.head,
        received: partial.parts.size,
        total: partial.total,
        error: new ProtocolError('chunk_expired', this.#expiredText(partial), { msgId: partial.msgId }),
      });
    }
    for (const [key, at] of this.#finished) {
      if (now - at >= this.expireAfterMs) this.#finished.delete(key);
    }
    return expired;
  }

  #drop(key: string, partial: Partial, now: number): void {
    if (this.#partials.delete(key)) this.#bufferedBytes -= partial.bytes;
    this.#finished.set(key, now);
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
