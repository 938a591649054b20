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
 */
export class PendingRequests<T> {
  private readonly waiting = new Map<string, Waiting<T>>();
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
    const w = this.waiting.get(requestId);
    if (w) return sessionId !== undefined && w.sessionId === sessionId ? 'bound' : 'refused';
    return this.ended.endedFor(requestId, sessionId) ? 'ended' : 'refused';
  }

  /** Settles the request with `answer` when `sessionId` is the one it was delivered to. */
  answer(requestId: string, sessionId: string | undefined, answer: T | undefined): AnswerVerdict {
    const verdict = this.verdict(requestId, sessionId);
    if (verdict === 'bound') this.finish(requestId, answer);
    return verdict;
  }

  /** Every request of an ended session goes to the upstream. */
  endSession(sessionId: string): void {
    for (const [id, w] of this.waiting) if (w.sessionId === sessionId) this.finish(id, undefined);
  }

  stop(): void {
    for (const id of [...this.waiting.keys()]) this.finish(id, undefined);
  }

  get size(): number {
    return this.waiting.size;
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
