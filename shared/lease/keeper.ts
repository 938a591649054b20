import type { Store } from '../store/store.ts';
import { type Clock, systemClock, systemTimers, type Timers } from './clock.ts';
import { believesUntil, isHeld, LeaseClient, type LeaseHandle } from './lease.ts';
import type { LeaseTiming } from './timing.ts';

export type LossReason = 'taken' | 'expired' | 'stopped';

export interface LeaseKeeperOptions {
  store: Store;
  name: string;
  owner: string;
  timing: LeaseTiming;
  clock?: Clock;
  timers?: Timers;
  onAcquired?: (lease: LeaseHandle) => void;
  /** `taken`: someone else holds it; `expired`: no renewal got through in time; `stopped`: we stopped. */
  onLost?: (lease: LeaseHandle, reason: LossReason) => void;
  /** A store call failed (network, throttling); the keeper keeps trying. */
  onError?: (err: unknown) => void;
}

/** Pause after losing an acquire race (the winner's expiry is not known yet). */
const MIN_RETRY_MS = 25;

/**
 * Keeps trying to hold one lease in a long-running process: acquires, renews every `renewMs`,
 * and says when leadership starts and ends. Leadership ends by itself when our clock passes
 * `believesUntil` without a renewal, even if the store is unreachable meanwhile.
 *
 * A standby that finds the lease held retries when the holder's stored expiry passes (capped at
 * `renewMs`), so a dead holder is replaced about `leaseMs` after its last renewal.
 */
export class LeaseKeeper {
  private readonly client: LeaseClient;
  private readonly clock: Clock;
  private readonly timers: Timers;
  /** The last holding we wrote, kept after belief lapses so it can still be renewed. */
  private lease: LeaseHandle | undefined;
  private leading = false;
  private running = false;
  private nextTimer: unknown;
  private lossTimer: unknown;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly o: LeaseKeeperOptions) {
    this.clock = o.clock ?? systemClock;
    this.timers = o.timers ?? systemTimers;
    this.client = new LeaseClient({
      store: o.store,
      name: o.name,
      owner: o.owner,
      timing: o.timing,
      clock: this.clock,
    });
  }

  get owner(): string {
    return this.o.owner;
  }

  /** True while our clock says we hold the lease (and may act as leader). */
  isLeader(): boolean {
    return this.leading && isHeld(this.lease, this.clock.now());
  }

  /** The fencing token while leader. */
  get token(): number | undefined {
    return this.isLeader() ? this.lease?.token : undefined;
  }

  /** The current holding while leader, for fenced writes. */
  current(): LeaseHandle | undefined {
    return this.isLeader() ? this.lease : undefined;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  /**
   * Stops trying. With `release` (the default) a held lease is given up so a standby takes over
   * at once; without it, the lease simply runs out (what a crash looks like to the others).
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.running = false;
    this.timers.clearTimeout(this.nextTimer);
    this.timers.clearTimeout(this.lossTimer);
    await this.inFlight;
    const lease = this.lease;
    const wasLeading = this.leading;
    this.lease = undefined;
    this.leading = false;
    if (lease && (opts.release ?? true)) {
      try {
        await this.client.release(lease);
      } catch (err) {
        this.o.onError?.(err);
      }
    }
    if (lease && wasLeading) this.o.onLost?.(lease, 'stopped');
  }

  /** One acquire-or-renew attempt now; concurrent calls share it. */
  async tick(): Promise<void> {
    this.inFlight ??= this.attempt().finally(() => {
      this.inFlight = undefined;
    });
    await this.inFlight;
  }

  private schedule(ms: number): void {
    if (!this.running) return;
    this.timers.clearTimeout(this.nextTimer);
    this.nextTimer = this.timers.setTimeout(() => {
      void this.tick();
    }, ms);
  }

  private lose(reason: LossReason): void {
    this.timers.clearTimeout(this.lossTimer);
    const lease = this.lease;
    if (reason === 'taken') this.lease = undefined;
    if (this.leading && lease) {
      this.leading = false;
      this.o.onLost?.(lease, reason);
    }
  }

  private async attempt(): Promise<void> {
    if (!this.running) return;
    const { renewMs } = this.o.timing;
    let outcome: Awaited<ReturnType<LeaseClient['acquireOrRenew']>>;
    try {
      outcome = await this.client.acquireOrRenew(this.lease);
    } catch (err) {
      // The store is unreachable: keep believing until our clock says otherwise (the loss timer),
      // and try again soon.
      this.o.onError?.(err);
      this.schedule(Math.min(renewMs, 1000));
      return;
    }
    if (!this.running) {
      // Stopped while the attempt was in flight: stop() releases what we just got.
      if (outcome.acquired) this.lease = outcome.lease;
      return;
    }
    const now = this.clock.now();
    if (!outcome.acquired) {
      this.lose('taken');
      // The holder's expiry is not past on our clock (else we would have taken it), so waiting
      // until 1 ms after it never spins. A lost race gives no holder: back off a little.
      const wait = outcome.holder ? Math.max(1, outcome.holder.expiresAt - now + 1) : MIN_RETRY_MS;
      this.schedule(Math.min(renewMs, wait));
      return;
    }
    const lease = outcome.lease;
    const changed = this.lease?.token !== lease.token;
    if (changed && this.leading) this.lose('taken');
    this.lease = lease;
    if (isHeld(lease, now)) {
      // Loss is detected by our clock alone: no renewal in time means no leadership.
      this.timers.clearTimeout(this.lossTimer);
      this.lossTimer = this.timers.setTimeout(() => this.checkExpiry(), believesUntil(lease) - now);
      if (!this.leading) {
        this.leading = true;
        this.o.onAcquired?.(lease);
      }
    }
    this.schedule(Math.max(0, lease.sentAt + renewMs - now));
  }

  private checkExpiry(): void {
    if (this.leading && !isHeld(this.lease, this.clock.now())) this.lose('expired');
  }
}
