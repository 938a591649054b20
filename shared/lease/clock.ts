/**
 * Time and timers, injected so that lease logic runs under a simulated clock in tests (no real
 * sleeping) and under the system clock in production.
 */
export interface Clock {
  /** Epoch milliseconds on this process's clock (which may be skewed against other processes). */
  now(): number;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = { now: () => Date.now() };

export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Lets pending promise chains (store calls on the in-memory fake) run to completion. */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

interface Pending {
  id: number;
  due: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to, with timers that fire in due order as it moves. Each fired
 * timer gets its async follow-ups settled before the next one fires, as on a real event loop where
 * an in-memory store answers at once.
 */
export class ManualClock implements Clock, Timers {
  private pending: Pending[] = [];
  private nextId = 1;

  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ id, due: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }

  /** Timers not fired yet. */
  get timerCount(): number {
    return this.pending.length;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const until = this.t + ms;
    await settle();
    for (;;) {
      const next = this.pending.filter((p) => p.due <= until).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      this.pending = this.pending.filter((p) => p !== next);
      this.t = Math.max(this.t, next.due);
      next.fn();
      await settle();
    }
    this.t = until;
  }

  /** Sets the clock without firing timers: a jump, as when a process is frozen and thawed. */
  jump(ms: number): void {
    this.t += ms;
  }
}
