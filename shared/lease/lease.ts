import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Condition, Store, StoredItem } from '../store/store.ts';
import type { Clock } from './clock.ts';
import { LeaseExpiredError, LeaseLostError } from './errors.ts';
import type { LeaseTiming } from './timing.ts';

/**
 * A leader lease with fencing tokens, kept in the state table as one item `LEASE#<name>`:
 *
 *   { owner, token, expiresAt, acquiredAt, renewedAt?, releasedAt?, version }
 *
 * Times are epoch milliseconds on the clock of the owner that wrote them. Contenders compare the
 * stored `expiresAt` with their own clocks, which differ by at most `maxClockSkewMs` (K).
 *
 * The item is never deleted (and never gets a DynamoDB TTL, see the store): the token must keep
 * increasing for the table's whole life, because items written under the lease keep the token
 * that wrote them in their `fence` attribute.
 *
 * Who believes what, with L = leaseMs and K = maxClockSkewMs, for a request sent when the
 * holder's clock read `sentAt`:
 *
 *   stored expiresAt E = sentAt + L          (holder's clock)
 *   holder believes it holds the lease while its clock < E - K
 *   holder writes while its clock           < E - K - writeMarginMs
 *   a contender takes over once its clock   > E
 *
 * Since the two clocks differ by at most K, the contender's "> E" comes after the holder's "< E - K"
 * has ended in real time: their beliefs never overlap.
 */

export interface LeaseHandle {
  readonly name: string;
  readonly owner: string;
  /** The fencing token: +1 on every takeover, the same across renewals. */
  readonly token: number;
  /** The stored expiry as we last wrote it (our clock). */
  readonly expiresAt: number;
  /** Our clock just before the acquire or renew that set `expiresAt` was sent. */
  readonly sentAt: number;
  /** The item's version after our last write. */
  readonly version: number;
  readonly timing: LeaseTiming;
  /** The clock this holding is judged on. */
  readonly clock: Clock;
}

/** Who holds a lease, as read from the store (for logs and for scheduling the next attempt). */
export interface LeaseHolder {
  owner: string;
  token: number;
  expiresAt: number;
}

export type AcquireOutcome =
  | { acquired: true; lease: LeaseHandle }
  | { acquired: false; holder?: LeaseHolder };

/** Until when (our clock) the holder may act as the leader. */
export function believesUntil(lease: LeaseHandle): number {
  return lease.expiresAt - lease.timing.maxClockSkewMs;
}

/** Until when (our clock) the holder may start a write under the lease. */
export function writableUntil(lease: LeaseHandle): number {
  return believesUntil(lease) - lease.timing.writeMarginMs;
}

export function isHeld(lease: LeaseHandle | undefined, now = lease?.clock.now()): boolean {
  return lease !== undefined && now !== undefined && now < believesUntil(lease);
}

export function canWrite(lease: LeaseHandle | undefined, now = lease?.clock.now()): boolean {
  return lease !== undefined && now !== undefined && now < writableUntil(lease);
}

function holderOf(item: StoredItem): LeaseHolder {
  return {
    owner: String(item.owner),
    token: Number(item.token ?? 0),
    expiresAt: Number(item.expiresAt ?? 0),
  };
}

export interface LeaseClientOptions {
  store: Store;
  name: string;
  /** Stable per process (hostname, pid and a random part): a process renews its own lease. */
  owner: string;
  timing: LeaseTiming;
  clock: Clock;
}

/**
 * The lease protocol: acquire, renew, release. Stateless: callers hold the `LeaseHandle`
 * (the keeper and the reconciler do), so one client can be shared.
 */
export class LeaseClient {
  readonly name: string;
  readonly owner: string;

  constructor(private readonly o: LeaseClientOptions) {
    this.name = o.name;
    this.owner = o.owner;
  }

  private get key() {
    return keys.lease(this.o.name);
  }

  private handle(token: number, sentAt: number, version: number): LeaseHandle {
    return {
      name: this.o.name,
      owner: this.o.owner,
      token,
      sentAt,
      expiresAt: sentAt + this.o.timing.leaseMs,
      version,
      timing: this.o.timing,
      clock: this.o.clock,
    };
  }

  /** The lease item as stored, if any. */
  async read(): Promise<LeaseHolder | undefined> {
    const item = await this.o.store.get(this.key, { consistent: true });
    return item && holderOf(item);
  }

  /**
   * Takes the lease if it is absent, expired or released. Returns who holds it otherwise.
   *
   * The put is conditioned on the item being absent or expired AND on the version we read, so a
   * takeover is a compare-and-swap on exactly the item we derived the new token from. Expiry
   * alone is not enough when two contenders read the same expired lease:
   *
   *   A: get (v7, expired) .. put token 8, v8 [v = 7 ✓] .. release (expiresAt 0, v9)
   *   B: get (v7, expired) ........................................... put token 8 [v = 7 ✗]
   *
   * B's put still passes `absentOrExpired` (0 < now), and without the version check two holders
   * would have had token 8: A's late writes would pass the fence of items B wrote. The same
   * happens if clocks disagree by more than the lease. The new version must be the read one + 1:
   * `put` would otherwise reset it to 1 and an old `version = 1` check could pass again (ABA).
   */
  async acquire(): Promise<AcquireOutcome> {
    const current = await this.o.store.get(this.key, { consistent: true });
    // Measured before the put is sent: the holding is counted from the earliest moment the write
    // could have taken effect, never from when its answer arrived.
    const sentAt = this.o.clock.now();
    if (current && !(typeof current.expiresAt === 'number' && current.expiresAt < sentAt)) {
      return { acquired: false, holder: holderOf(current) };
    }
    const token = (typeof current?.token === 'number' ? current.token : 0) + 1;
    const version = (current?.version ?? 0) + 1;
    const conditions: Condition[] = current
      ? [
          { type: 'version', version: current.version },
          { type: 'absentOrExpired', now: sentAt },
        ]
      : [{ type: 'absent' }];
    try {
      await this.o.store.put(
        {
          ...this.key,
          kind: KINDS.lease,
          name: this.o.name,
          owner: this.o.owner,
          token,
          acquiredAt: sentAt,
          expiresAt: sentAt + this.o.timing.leaseMs,
          version,
        },
        { conditions },
      );
    } catch (err) {
      if (err instanceof ConditionFailedError) return { acquired: false };
      throw err;
    }
    return { acquired: true, lease: this.handle(token, sentAt, version) };
  }

  /**
   * Extends our holding, keeping the token. Conditions and the race each one prevents:
   *
   * - `owner = me AND token = mine`: a holder paused past its expiry must not extend a lease that
   *   someone else took over meanwhile:
   *
   *     A: renew sent ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~> lands [token = 8 ✗]
   *     B:          (A's lease expires) acquire token 9 -> holds
   *
   * - `expiresAt = the value we last wrote`: two renewals of ours that land out of order must not
   *   move the expiry backwards while we believe the later one:
   *
   *     A: renew#1 sent (E1) ~~~~~~~~~~~~~~~~~~~~~~~~~> lands second: E2 -> E1 [✗, E is E2 now]
   *     A:    renew#2 sent (E2) ~~> lands first: E -> E2, A believes until E2 - K
   *
   *   Without it, E1 would be stored while A believed until E2 - K > E1 - K: B could take over at E1.
   *
   * - not expired: checked against our own clock before sending, which is exactly what a
   *   server-side `expiresAt > :now` would test (`:now` would be our clock's reading too). An
   *   expired holding is taken again with `acquire`, under a new token.
   */
  async renew(lease: LeaseHandle): Promise<LeaseHandle> {
    const sentAt = this.o.clock.now();
    if (!(sentAt < lease.expiresAt)) {
      throw new LeaseExpiredError(lease.name, lease.token, lease.expiresAt, sentAt);
    }
    try {
      const out = await this.o.store.update(
        this.key,
        { expiresAt: sentAt + this.o.timing.leaseMs, renewedAt: sentAt },
        {
          conditions: [
            { type: 'equals', attr: 'owner', value: this.o.owner },
            { type: 'equals', attr: 'token', value: lease.token },
            { type: 'equals', attr: 'expiresAt', value: lease.expiresAt },
          ],
        },
      );
      return this.handle(lease.token, sentAt, out.version);
    } catch (err) {
      if (err instanceof ConditionFailedError) throw new LeaseLostError(lease.name, lease.token);
      throw err;
    }
  }

  /**
   * Renews a holding that has not expired, otherwise tries to acquire. A lost renewal falls back to
   * an acquire, which reports the new holder.
   */
  async acquireOrRenew(lease?: LeaseHandle): Promise<AcquireOutcome> {
    if (lease && this.o.clock.now() < lease.expiresAt) {
      try {
        return { acquired: true, lease: await this.renew(lease) };
      } catch (err) {
        if (!(err instanceof LeaseLostError) && !(err instanceof LeaseExpiredError)) throw err;
      }
    }
    return await this.acquire();
  }

  /**
   * Gives the lease up so a standby takes over at once, instead of after `leaseMs`. Sets
   * `expiresAt` to 0 and keeps the item (and so the token). Conditioned on owner and token: a
   * release that arrives after a takeover must not end the new holder's lease. A renew of ours
   * that lands after the release fails on `expiresAt`, so the release sticks.
   * Returns false when the lease was not ours any more (nothing to release).
   */
  async release(lease: LeaseHandle): Promise<boolean> {
    try {
      await this.o.store.update(
        this.key,
        { expiresAt: 0, releasedAt: this.o.clock.now() },
        {
          conditions: [
            { type: 'equals', attr: 'owner', value: this.o.owner },
            { type: 'equals', attr: 'token', value: lease.token },
          ],
        },
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionFailedError) return false;
      throw err;
    }
  }
}
