import type { Store, StoredItem } from '../store/store.ts';
import { settle } from './clock.ts';
import { LeaseExpiredError, LeaseLostError, StaleFenceError } from './errors.ts';
import { fencedPut, fencedUpdate } from './fenced.ts';
import { believesUntil, isHeld, LeaseClient, type LeaseHandle } from './lease.ts';
import type { LeaseTiming } from './timing.ts';

/**
 * A deterministic simulation of lease contenders for property tests: simulated real time, one
 * clock per contender (offset within the skew bound), and a network in which every store call is
 * in flight until the test delivers it, in any order. Contenders freeze (calls they made and
 * responses to them wait until they thaw), crash (their identity ends; calls already sent may still
 * land) and restart under a new identity.
 *
 * It records what the invariants need: when each identity believed it held the lease (in real
 * time), every takeover as it landed in the store, and every accepted fenced write per item.
 */

export type SimCommand =
  | { op: 'advance'; ms: number }
  | { op: 'tick'; who: number }
  | { op: 'write'; who: number; item: number; update: boolean }
  | { op: 'deliver'; pick: number }
  | { op: 'deliverAll' }
  | { op: 'freeze'; who: number; ms: number }
  | { op: 'crash'; who: number; offset: number }
  | { op: 'release'; who: number };

export interface SimStats {
  commands: number;
  storeCalls: number;
  takeovers: number;
  renewals: number;
  acceptedWrites: number;
  /** Accepted writes whose token was below the newest token at the time they landed (the narrowed hole). */
  lateWrites: number;
  staleRejected: number;
  refusedByClock: number;
  freezes: number;
  crashes: number;
}

export interface Belief {
  identity: string;
  from: number;
  to: number;
}

interface Identity {
  name: string;
  offset: number;
  alive: boolean;
  frozenUntil: number;
  crashedAt?: number;
  client: LeaseClient;
  store: Store;
  lease?: LeaseHandle;
  ticking: boolean;
}

interface InFlight {
  who: Identity;
  method: keyof Store;
  args: unknown[];
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

export class LeaseSimulation {
  /** Simulated real time. */
  t = 1_000_000_000;
  readonly beliefs: Belief[] = [];
  /** Tokens of successful takeovers, in the order they landed. */
  readonly takeoverTokens: number[] = [];
  /** Per data item, the fence of every accepted write, in the order they landed. */
  readonly writes = new Map<string, number[]>();
  readonly stats: SimStats = {
    commands: 0,
    storeCalls: 0,
    takeovers: 0,
    renewals: 0,
    acceptedWrites: 0,
    lateWrites: 0,
    staleRejected: 0,
    refusedByClock: 0,
    freezes: 0,
    crashes: 0,
  };
  private readonly slots: Identity[] = [];
  /** Calls made and not landed yet, in the order they were made. */
  private inflight: InFlight[] = [];
  private held: { who: Identity; fire: () => void }[] = [];
  private generation = 0;
  private newestToken = 0;

  constructor(
    private readonly inner: Store,
    private readonly timing: LeaseTiming,
    offsets: number[],
    /** Keeps runs that share one table apart. */
    private readonly prefix = 'sim',
  ) {
    offsets.forEach((o, i) => {
      this.slots[i] = this.identity(i, o);
    });
  }

  get leaseName(): string {
    return `${this.prefix}-lease`;
  }

  private identity(slot: number, offset: number): Identity {
    const name = `c${slot}.${this.generation++}`;
    const who = { name, offset, alive: true, frozenUntil: 0, ticking: false } as Identity;
    who.store = this.network(who);
    who.client = new LeaseClient({
      store: who.store,
      name: this.leaseName,
      owner: name,
      timing: this.timing,
      clock: { now: () => this.t + who.offset },
    });
    return who;
  }

  /** A store whose every call waits in flight until delivered. */
  private network(who: Identity): Store {
    const call =
      (method: keyof Store) =>
      (...args: unknown[]) =>
        new Promise((resolve, reject) => {
          this.inflight.push({ who, method, args, resolve, reject });
        });
    return {
      get: call('get'),
      put: call('put'),
      putAll: call('putAll'),
      update: call('update'),
      delete: call('delete'),
      query: call('query'),
      listByKind: call('listByKind'),
    } as Store;
  }

  /**
   * Indexes of calls that may land now. A frozen process's calls have not left it yet: it may have
   * frozen right after its clock check and before sending, the worst case for fencing. Calls of a
   * crashed process were sent before it died and may still land.
   */
  private sendable(): number[] {
    const out: number[] = [];
    this.inflight.forEach((c, i) => {
      if (!c.who.alive || c.who.frozenUntil <= this.t) out.push(i);
    });
    return out;
  }

  private async deliver(index: number): Promise<void> {
    const [c] = this.inflight.splice(index, 1);
    if (!c) return;
    this.stats.storeCalls++;
    let fire: () => void;
    try {
      const fn = this.inner[c.method] as (...a: unknown[]) => Promise<unknown>;
      const value = await fn.apply(this.inner, c.args);
      this.observe(c, value);
      fire = () => c.resolve(value);
    } catch (err) {
      fire = () => c.reject(err);
    }
    // A crashed process never hears back; a frozen one hears back when it thaws.
    if (!c.who.alive) return;
    if (c.who.frozenUntil > this.t) this.held.push({ who: c.who, fire });
    else fire();
  }

  /** Records what landed, at the moment it landed. */
  private observe(c: InFlight, value: unknown): void {
    const item = value as StoredItem | undefined;
    if (!item || (c.method !== 'put' && c.method !== 'update')) return;
    if (item.kind === 'LEASE') {
      if (c.method === 'put') {
        this.takeoverTokens.push(Number(item.token));
        this.newestToken = Math.max(this.newestToken, Number(item.token));
      }
      return;
    }
    const id = `${item.pk}/${item.sk}`;
    const fences = this.writes.get(id) ?? [];
    fences.push(Number(item.fence));
    this.writes.set(id, fences);
    this.stats.acceptedWrites++;
    if (Number(item.fence) < this.newestToken) this.stats.lateWrites++;
  }

  private thaw(): void {
    const ready = this.held.filter((h) => h.who.frozenUntil <= this.t);
    this.held = this.held.filter((h) => h.who.frozenUntil > this.t);
    for (const h of ready) h.fire();
  }

  private active(slot: number): Identity | undefined {
    const who = this.slots[slot % this.slots.length];
    return who?.alive && who.frozenUntil <= this.t ? who : undefined;
  }

  private believe(who: Identity, lease: LeaseHandle): void {
    // Real time at which this identity's clock reaches the end of its belief.
    const to = believesUntil(lease) - who.offset;
    if (to > this.t) this.beliefs.push({ identity: who.name, from: this.t, to });
  }

  private async tick(who: Identity): Promise<void> {
    who.ticking = true;
    try {
      const before = who.lease?.token;
      const out = await who.client.acquireOrRenew(who.lease);
      if (!who.alive) return;
      if (out.acquired) {
        if (out.lease.token === before) this.stats.renewals++;
        else this.stats.takeovers++;
        who.lease = out.lease;
        this.believe(who, out.lease);
      } else {
        who.lease = undefined;
      }
    } finally {
      who.ticking = false;
    }
  }

  private async write(who: Identity, item: number, update: boolean): Promise<void> {
    const lease = who.lease;
    if (!lease || !isHeld(lease)) return;
    const key = { pk: `${this.prefix}-ITEM#${item}`, sk: 'ITEM' };
    try {
      if (update) await fencedUpdate(who.store, lease, key, { by: who.name });
      else await fencedPut(who.store, lease, { ...key, kind: 'SIM', by: who.name });
    } catch (err) {
      if (err instanceof StaleFenceError) this.stats.staleRejected++;
      else if (err instanceof LeaseExpiredError || err instanceof LeaseLostError) this.stats.refusedByClock++;
    }
  }

  async run(cmd: SimCommand): Promise<void> {
    this.stats.commands++;
    switch (cmd.op) {
      case 'advance':
        this.t += cmd.ms;
        break;
      case 'tick': {
        const who = this.active(cmd.who);
        if (who && !who.ticking) void this.tick(who);
        break;
      }
      case 'write': {
        const who = this.active(cmd.who);
        if (who) void this.write(who, cmd.item, cmd.update);
        break;
      }
      case 'deliver': {
        const sendable = this.sendable();
        if (sendable.length) await this.deliver(sendable[cmd.pick % sendable.length]!);
        break;
      }
      case 'deliverAll':
        for (let s = this.sendable(); s.length; s = this.sendable()) await this.deliver(s[0]!);
        break;
      case 'freeze': {
        const who = this.active(cmd.who);
        if (who) {
          who.frozenUntil = this.t + cmd.ms;
          this.stats.freezes++;
        }
        break;
      }
      case 'crash': {
        const slot = cmd.who % this.slots.length;
        const old = this.slots[slot]!;
        old.alive = false;
        old.crashedAt = this.t;
        // Its belief ends with it; requests it already sent may still land.
        for (const b of this.beliefs) if (b.identity === old.name && b.to > this.t) b.to = this.t;
        this.slots[slot] = this.identity(slot, cmd.offset);
        this.stats.crashes++;
        break;
      }
      case 'release': {
        const who = this.active(cmd.who);
        const lease = who?.lease;
        if (who && lease && !who.ticking) {
          // It stops believing before it sends the release.
          who.lease = undefined;
          for (const b of this.beliefs) if (b.identity === who.name && b.to > this.t) b.to = this.t;
          void who.client.release(lease).catch(() => undefined);
        }
        break;
      }
    }
    this.thaw();
    await settle(2);
  }

  /** Lets everything in flight land and every frozen contender thaw. */
  async drain(): Promise<void> {
    for (let i = 0; i < 10 && (this.inflight.length || this.held.length); i++) {
      this.t += 10 * this.timing.leaseMs;
      this.thaw();
      await settle(2);
      while (this.inflight.length) await this.deliver(0);
      await settle(2);
    }
  }

  /** Pairs of beliefs of different identities that overlap in real time (must be empty). */
  overlappingBeliefs(): [Belief, Belief][] {
    const out: [Belief, Belief][] = [];
    const sorted = [...this.beliefs].sort((a, b) => a.from - b.from);
    for (let i = 0; i < sorted.length; i++) {
      for (let j = i + 1; j < sorted.length; j++) {
        const a = sorted[i]!;
        const b = sorted[j]!;
        if (b.from >= a.to) break; // sorted by start: no later belief overlaps `a` either
        if (a.identity !== b.identity) out.push([a, b]);
      }
    }
    return out;
  }

  /** Takeovers whose token is not exactly the previous one + 1 (must be empty). */
  tokenGaps(): { index: number; previous: number; token: number }[] {
    const out: { index: number; previous: number; token: number }[] = [];
    this.takeoverTokens.forEach((token, index) => {
      const previous = index === 0 ? 0 : this.takeoverTokens[index - 1]!;
      if (token !== previous + 1) out.push({ index, previous, token });
    });
    return out;
  }

  /** Items on which an accepted write carried a lower token than an earlier accepted one (must be empty). */
  staleAccepted(): { item: string; fences: number[] }[] {
    const out: { item: string; fences: number[] }[] = [];
    for (const [item, fences] of this.writes) {
      if (fences.some((f, i) => i > 0 && f < fences[i - 1]!)) out.push({ item, fences });
    }
    return out;
  }
}
