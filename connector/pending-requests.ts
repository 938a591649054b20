import { RecentlyEnded } from './recently-ended.ts';

/**
 * What an answer for a request id is worth, given the session it came from (the router
 * stamps that from the sender's authenticated connection, never from the frame):
 * - `bound`: the request is waiting, and it was delivered to this session: take the answer;
 * - `ended`: it was this session's, and is already answered or given up: drop it quietly;
 * - `refused`: anything else (another session's request, a mirrored copy, an id never
 *   issued). One verdict for all three, so a refusal tells nobody whether the id exists.
 */
export type AnswerVerdict = 'bound' | 'ended' | 'refused';

interface Waiting<T> {
  sessionId: string;
  resolve: (answer: T | undefined) => void;
  timer: NodeJS.Timeout;
}

/**
 * Stolen requests waiting for their developer's answer, each bound to the one session it was
 * delivered to. Mirrored copies are never registered, so every answer to one is refused.
 * A request whose answer streams on after its `response` (`data` ... `close`) stays bound
 * while it streams: `openStream` at the response, `endStream` at the close.
 */
export class PendingRequests<T> {
  private readonly waiting = new Map<string, Waiting<T>>();
  private readonly streaming = new Map<string, string>();
  private readonly ended: RecentlyEnded;

  constructor(options: { recentLimit?: number } = {}) {
    this.ended = new RecentlyEnded(options.recentLimit);
  }

  /**
   * Waits for the answer to `requestId` from `sessionId`; resolves `undefined` (serve from
   * the upstream) after `deadlineMs`, when the session ends, or on `stop`.
   */
  wait(
    requestId: string,
    sessionId: string,
    deadlineMs: number,
    onDeadline?: () => void,
  ): Promise<T | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.finish(requestId, undefined)) onDeadline?.();
      }, deadlineMs);
      this.waiting.set(requestId, { sessionId, resolve, timer });
    });
  }

  verdict(requestId: string, sessionId: string | undefined): AnswerVerdict {
    const owner = this.waiting.get(requestId)?.sessionId ?? this.streaming.get(requestId);
    if (owner !== undefined) return sessionId !== undefined && owner === sessionId ? 'bound' : 'refused';
    return this.ended.endedFor(requestId, sessionId) ? 'ended' : 'refused';
  }

  /** Settles the request with `answer` when `sessionId` is the one it was delivered to. */
  answer(requestId: string, sessionId: string | undefined, answer: T | undefined): AnswerVerdict {
    const verdict = this.verdict(requestId, sessionId);
    if (verdict === 'bound') this.finish(requestId, answer);
    return verdict;
  }

  /** The answer goes on after its head: its `data` and `close` stay bound to the same session. */
  openStream(requestId: string, sessionId: string): void {
    this.streaming.set(requestId, sessionId);
  }

  endStream(requestId: string): void {
    const sessionId = this.streaming.get(requestId);
    if (sessionId === undefined) return;
    this.streaming.delete(requestId);
    this.ended.add(requestId, sessionId);
  }

  /** Every request of an ended session goes to the upstream. */
  endSession(sessionId: string): void {
    for (const [id, w] of this.waiting) if (w.sessionId === sessionId) this.finish(id, undefined);
    for (const [id, owner] of this.streaming) if (owner === sessionId) this.endStream(id);
  }

  /**
   * Every request still waiting for its answer goes to the upstream (a shutting-down connector);
   * answers already streaming carry on. Returns how many were given up.
   */
  giveUpWaiting(): number {
    const ids = [...this.waiting.keys()];
    for (const id of ids) this.finish(id, undefined);
    return ids.length;
  }

  stop(): void {
    for (const id of [...this.waiting.keys()]) this.finish(id, undefined);
    this.streaming.clear();
  }

  /** Requests still bound: waiting for an answer, or streaming one. */
  get size(): number {
    return this.waiting.size + this.streaming.size;
  }

  private finish(requestId: string, answer: T | undefined): boolean {
    const w = this.waiting.get(requestId);
    if (!w) return false;
    this.waiting.delete(requestId);
    clearTimeout(w.timer);
    this.ended.add(requestId, w.sessionId);
    w.resolve(answer);
    return true;
  }
}
