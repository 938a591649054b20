/**
 * One direction of one streamed request, put back in order. The router is stateless (on AWS
 * every frame is its own Lambda invocation), so the frames of a stream can overtake each other:
 * a `data` before its `response` head, the last `data` after the `close`. The sender numbers
 * them: the head is 0 (a `request` or `response` with `stream: true`, which carries no number),
 * then each `data` and the clean `close` carry `seq` 1, 2, 3... The receiver releases them in
 * that order, holding what comes early.
 *
 * What is not ordered: a frame without `seq` (a sender that does not number) goes out as it
 * comes, and so does a `close` with a reason (an abort must not wait behind the body it stops).
 *
 * A gap that does not fill within `stallMs` (a frame lost on the way) ends the stream through
 * `onStall`: a body with a hole must never be delivered as if whole.
 */
export interface StreamOrderOptions {
  /** How far ahead of the awaited frame a frame may be (default 256: 4 MiB of 16 KiB frames). */
  window?: number;
  /** How long a gap may hold the frames behind it (default 10 s). */
  stallMs?: number;
  /** Called once when a gap does not fill in time or a frame is too far ahead. */
  onStall: (why: string) => void;
}

export class StreamOrder<T> {
  #next = 0;
  readonly #held = new Map<number, T>();
  readonly #window: number;
  readonly #stallMs: number;
  readonly #onStall: (why: string) => void;
  #timer?: NodeJS.Timeout;
  #stalled = false;

  constructor(options: StreamOrderOptions) {
    this.#window = options.window ?? 256;
    this.#stallMs = options.stallMs ?? 10_000;
    this.#onStall = options.onStall;
  }

  /** Frames held back behind a gap. */
  get waiting(): number {
    return this.#held.size;
  }

  /** Whether the stream was given up (a gap that did not fill, a frame too far ahead). */
  get stalled(): boolean {
    return this.#stalled;
  }

  /**
   * Takes frame `seq` (0 for the head); returns the frames that can go on now, in order. A frame
   * already released or held (a duplicate) is dropped.
   */
  push(seq: number, frame: T): T[] {
    if (this.#stalled || seq < this.#next || this.#held.has(seq)) return [];
    if (seq >= this.#next + this.#window) {
      this.stall(`a frame arrived ${seq - this.#next} ahead of the one awaited`);
      return [];
    }
    if (seq !== this.#next) {
      this.#held.set(seq, frame);
      this.#timer ??= setTimeout(
        () => this.stall(`frame ${this.#next} did not arrive within ${this.#stallMs} ms`),
        this.#stallMs,
      ).unref();
      return [];
    }
    const out = [frame];
    this.#next++;
    for (let f = this.#held.get(this.#next); f !== undefined; f = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      out.push(f);
      this.#next++;
    }
    if (this.#held.size === 0) this.clearTimer();
    return out;
  }

  /** The stream is over (ended, cut or gone): nothing more is awaited. */
  dispose(): void {
    this.clearTimer();
    this.#held.clear();
  }

  private stall(why: string): void {
    if (this.#stalled) return;
    this.#stalled = true;
    this.dispose();
    this.#onStall(why);
  }

  private clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The sender's side: the `seq` of each `data` and clean `close` of one stream, from 1. */
export class StreamNumbering {
  #last = 0;
  next(): number {
    this.#last++;
    return this.#last;
  }
}
