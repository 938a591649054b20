import type { ErrorMessage } from './messages.ts';
import { message } from './messages.ts';
import { ProtocolError } from './protocol-error.ts';

/**
 * Releases stateful replies in the order their requests were sent. Replies travel through a
 * stateless router (many Lambda instances, one per frame), so they may arrive out of order;
 * each carries the `seq` of its request, and the client waits for gaps to fill.
 *
 * A reply that never comes must not block the session forever: a missing `seq` is given up
 * after `giveUpMs`, counted from whichever comes first: when its request was sent (if the
 * caller said so with `expect`) or when the oldest reply now waiting behind it arrived. The
 * give-up is released in its place as an `error` with code `reply_timeout`. Time is passed in.
 */

export interface OrderedReleaserOptions {
  /** The first `seq` the session uses (default 1). */
  firstSeq?: number;
  /** How long a missing reply blocks the ones after it (default 30 s). */
  giveUpMs?: number;
  /** A reply this far ahead of the awaited `seq` is refused (default 1024): a bound on memory and on give-ups. */
  window?: number;
}

/** A stateful reply, or an `error` that may or may not answer one (no `seq`: not ordered). */
export interface Sequenced {
  seq?: number;
  reqId?: string;
}

export type Released<T> = T | ErrorMessage;

export class OrderedReleaser<T extends Sequenced> {
  readonly giveUpMs: number;
  readonly window: number;
  #next: number;
  readonly #buffered = new Map<number, { reply: T; at: number }>();
  readonly #sentAt = new Map<number, { at: number; reqId?: string }>();
  #late = 0;

  constructor(options: OrderedReleaserOptions = {}) {
    this.#next = options.firstSeq ?? 1;
    this.giveUpMs = options.giveUpMs ?? 30_000;
    this.window = options.window ?? 1024;
  }

  /** The `seq` whose reply is awaited now. */
  get next(): number {
    return this.#next;
  }

  /** Replies held back behind a gap. */
  get waiting(): number {
    return this.#buffered.size;
  }

  /** Replies dropped because their `seq` was already released or given up. */
  get late(): number {
    return this.#late;
  }

  /**
   * Optional: note that request `seq` was sent at `now`, so its reply is given up `giveUpMs`
   * later even when no later reply shows the gap, and the give-up error names its `reqId`.
   */
  expect(seq: number, now: number, reqId?: string): void {
    if (seq < this.#next || seq >= this.#next + this.window) return;
    this.#sentAt.set(seq, reqId === undefined ? { at: now } : { at: now, reqId });
  }

  /** Take one reply; returns what can be released now, in `seq` order. */
  push(reply: T, now: number): Released<T>[] {
    const { seq } = reply;
    // Nothing to order it against (an error about the connection): it goes out at once.
    if (seq === undefined) return [reply, ...this.poll(now)];
    if (seq < this.#next || this.#buffered.has(seq)) {
      this.#late++;
      return this.poll(now);
    }
    if (seq >= this.#next + this.window) {
      throw new ProtocolError(
        'seq_out_of_window',
        `reply seq ${seq} is ${seq - this.#next} ahead of the awaited seq ${this.#next} (window ${this.window})`,
        { seq, next: this.#next },
      );
    }
    this.#buffered.set(seq, { reply, at: now });
    return this.poll(now);
  }

  /** Release what is in order, giving up missing replies whose wait is over. Call it on a tick. */
  poll(now: number): Released<T>[] {
    const out: Released<T>[] = [];
    for (;;) {
      const ready = this.#buffered.get(this.#next);
      if (ready) {
        out.push(ready.reply);
        this.#advance();
        continue;
      }
      const since = this.#waitingSince(this.#next);
      if (since === undefined || now - since < this.giveUpMs) return out;
      out.push(this.#giveUp(this.#next));
      this.#advance();
    }
  }

  #advance(): void {
    this.#buffered.delete(this.#next);
    this.#sentAt.delete(this.#next);
    this.#next++;
  }

  /** When the wait for `seq` began, or undefined when nothing shows it is missing yet. */
  #waitingSince(seq: number): number | undefined {
    const sent = this.#sentAt.get(seq)?.at;
    // Map keeps insertion order and time only moves forward: the first entry arrived first.
    const oldest = this.#buffered.values().next().value?.at;
    if (sent === undefined) return oldest;
    return oldest === undefined ? sent : Math.min(sent, oldest);
  }

  #giveUp(seq: number): ErrorMessage {
    const reqId = this.#sentAt.get(seq)?.reqId;
    return message('error', {
      code: 'reply_timeout',
      message: `no reply for request seq ${seq}${reqId ? ` (reqId ${reqId})` : ''} within ${this.giveUpMs} ms; later replies were released without it`,
      seq,
      ...(reqId ? { reqId } : {}),
    });
  }
}
