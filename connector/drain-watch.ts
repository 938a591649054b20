/**
 * Calls back once a queue has drained below a mark. WebSocket (the `ws` package) has no `drain`
 * event for its send queue, so while anyone waits the queue's size is read every `everyMs`; with
 * no one waiting there is no timer.
 */
export class DrainWatch {
  private readonly waiting: (() => void)[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly queued: () => number,
    private readonly lowWater: number,
    private readonly everyMs = 10,
  ) {}

  /** How many callbacks wait. */
  get size(): number {
    return this.waiting.length;
  }

  whenBelow(callback: () => void): void {
    if (this.queued() < this.lowWater && this.waiting.length === 0) {
      callback();
      return;
    }
    this.waiting.push(callback);
    this.timer ??= setInterval(() => this.check(), this.everyMs);
  }

  private check(): void {
    if (this.queued() >= this.lowWater) return;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const cb of this.waiting.splice(0)) cb();
  }
}
