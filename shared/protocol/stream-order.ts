/**
 * One direction of one streamed request, put back in order. The router is stateless (on AWS
 * every frame is its own Lambda invocation), so the frames of a stream can overtake each other:
 * a `data` before its `response` head, the last `data` after the `close`. The sender numbers
 * them: the head is 0 (a `request` or `response` with `stream: true`, which carries no number),
 * then each `data` and the clean `close` carry `part` 1, 2, 3... The receiver releases them in
 * that order, holding what comes early.
 *
 * What is not ordered: a frame without `part` (a sender that does not number) goes out as it
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
   * Takes frame `part` (0 for the head); returns the frames that can go on now, in order. A frame
   * already released or held (a duplicate) is dropped.
   */
  push(part: number, frame: T): T[] {
    if (this.#stalled || part < this.#next || this.#held.has(part)) return [];
    if (part >= this.#next + this.#window) {
      this.stall(`a frame arrived ${part - this.#next} ahead of the one awaited`);
      return [];
    }
    if (part !== this.#next) {
      this.#held.set(part, frame);
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

/** A frame of a stream as the reorderer sees it. */
export interface StreamFrameLike {
  type: string;
  requestId: string;
  part?: number;
  reason?: string;
}

/**
 * The receiving side for every stream of a connection, by request id: a head (part 0), then
 * numbered `data` and a clean `close`, released in order to `deliver`. A frame without `part`
 * and a `close` with a reason go at once (the latter also ends the stream's order). Entries are
 * made only for frames the caller has already admitted (bound to their session).
 */
export class StreamReorderer<F extends StreamFrameLike> {
  readonly #orders = new Map<string, StreamOrder<F>>();

  constructor(
    private readonly deliver: (frame: F) => void,
    /** A stream given up (a gap that did not fill): its receiver cuts it. */
    private readonly onStall: (requestId: string, why: string) => void,
    private readonly options: Omit<StreamOrderOptions, 'onStall'> = {},
  ) {}

  /** Streams with an order in progress. */
  get size(): number {
    return this.#orders.size;
  }

  /** The head of a stream (a `request` or `response` with `stream: true`). */
  head(frame: F): void {
    this.push(0, frame);
  }

  /** A `data` or `close` of a stream. */
  frame(frame: F): void {
    if (frame.part === undefined || (frame.type === 'close' && frame.reason !== undefined)) {
      if (frame.type === 'close') this.forget(frame.requestId);
      this.deliver(frame);
      return;
    }
    this.push(frame.part, frame);
  }

  /** The stream is over on this side (cut, its session gone): nothing more is awaited. */
  forget(requestId: string): void {
    this.#orders.get(requestId)?.dispose();
    this.#orders.delete(requestId);
  }

  private push(part: number, frame: F): void {
    const id = frame.requestId;
    let order = this.#orders.get(id);
    if (!order) {
      order = new StreamOrder<F>({
        ...this.options,
        onStall: (why) => {
          this.#orders.delete(id);
          this.onStall(id, why);
        },
      });
      this.#orders.set(id, order);
    }
    for (const f of order.push(part, frame)) {
      if (f.type === 'close') this.forget(id);
      this.deliver(f);
    }
  }
}

/**
 * The sending side for every stream of a connection: each `data` and clean `close` of a request
 * gets its `part`, from 1 (the head is 0). A `close` ends the numbering of its stream.
 */
export class StreamParts {
  readonly #last = new Map<string, { part: number; owner: string | undefined }>();

  /** Streams being numbered. */
  get size(): number {
    return this.#last.size;
  }

  /** The `part` for a frame of `requestId` (`owner`: the session, so its streams can be forgotten together). */
  number(type: 'data' | 'close', requestId: string, reason?: string, owner?: string): number | undefined {
    if (type === 'close') {
      const last = this.#last.get(requestId);
      this.#last.delete(requestId);
      // An abort is not ordered: it must not wait behind the body it stops.
      return reason === undefined ? (last?.part ?? 0) + 1 : undefined;
    }
    const entry = this.#last.get(requestId) ?? { part: 0, owner };
    entry.part++;
    this.#last.set(requestId, entry);
    return entry.part;
  }

  /** The stream ended without a `close` from this side (the other side cut it). */
  forget(requestId: string): void {
    this.#last.delete(requestId);
  }

  /** Every stream of a session that ended. */
  forgetOwner(owner: string): void {
    for (const [id, e] of this.#last) if (e.owner === owner) this.#last.delete(id);
  }
}
