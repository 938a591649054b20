import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { ManualClock } from '../../shared/lease/clock.ts';
import { LeaseKeeper, type LossReason } from '../../shared/lease/keeper.ts';
import { leaseTiming } from '../../shared/lease/timing.ts';
import { keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Attrs, Key, StoredItem, UpdateOptions } from '../../shared/store/store.ts';

const timing = leaseTiming(parseSettings({})); // 15 s lease, 5 s renew, 1 s skew, 1 s margin
const T0 = 5_000_000;

function keeper(store: MemoryStore, clock: ManualClock, owner: string) {
  const events: string[] = [];
  const k = new LeaseKeeper({
    store,
    name: 'reconciler',
    owner,
    timing,
    clock,
    timers: clock,
    onAcquired: (l) => events.push(`acquired:${l.token}@${clock.now() - T0}`),
    onLost: (l, reason: LossReason) => events.push(`lost:${l.token}:${reason}@${clock.now() - T0}`),
  });
  return { k, events };
}

/** A store whose updates fail while `down` is set, as when DynamoDB is unreachable. */
class FlakyStore extends MemoryStore {
  down = false;
  override async update(key: Key, set: Attrs, opts?: UpdateOptions): Promise<StoredItem> {
    if (this.down) throw new Error('network down');
    return await super.update(key, set, opts);
  }
}

describe('LeaseKeeper', () => {
  it('acquires at start, renews every renewMs, and stays leader with one token', async () => {
    // Prepare
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const { k, events } = keeper(store, clock, 'a');
    // Act
    k.start();
    await clock.advance(0);
    const first = k.current();
    await clock.advance(60_000);
    // Assess
    expect(first?.token).toBe(1);
    expect(events).toEqual(['acquired:1@0']);
    expect(k.isLeader()).toBe(true);
    expect(k.token).toBe(1);
    const item = await store.get(keys.lease('reconciler'));
    // Renewed at 5, 10, ..., 60 s: the stored expiry is 15 s after the last renewal.
    expect(item).toMatchObject({ owner: 'a', token: 1, expiresAt: T0 + 75_000, version: 13 });
    await k.stop();
  });

  it('a standby takes over within leaseMs of the holder crashing, with the next token', async () => {
    // Prepare
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = keeper(store, clock, 'a');
    const b = keeper(store, clock, 'b');
    a.k.start();
    await clock.advance(0);
    b.k.start();
    await clock.advance(7_000); // a renewed at 5 s
    expect([a.k.isLeader(), b.k.isLeader()]).toEqual([true, false]);
    // Act: a dies without releasing (its last renewal was at 5 s, so its lease ends at 20 s).
    await a.k.stop({ release: false });
    await clock.advance(30_000);
    // Assess: b retries right after the stored expiry: taken over at 20 s + 1 ms.
    expect(b.events).toEqual(['acquired:2@20001']);
    expect(b.k.token).toBe(2);
    expect(a.k.isLeader()).toBe(false);
    await b.k.stop();
  });

  it('a released lease is taken over at the standby’s next attempt', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = keeper(store, clock, 'a');
    const b = keeper(store, clock, 'b');
    a.k.start();
    await clock.advance(0);
    b.k.start();
    await clock.advance(1_000);
    await a.k.stop();
    await clock.advance(5_000);
    expect(a.events).toEqual(['acquired:1@0', 'lost:1:stopped@1000']);
    expect(b.events).toHaveLength(1);
    expect(b.events[0]).toMatch(/^acquired:2@[1-5]\d{3}$/);
    await b.k.stop();
  });

  it('ends leadership by its own clock when renewals fail, then retakes the lease when the store is back', async () => {
    // Prepare
    const store = new FlakyStore();
    const clock = new ManualClock(T0);
    const errors: unknown[] = [];
    const k = new LeaseKeeper({
      store,
      name: 'reconciler',
      owner: 'a',
      timing,
      clock,
      timers: clock,
      onError: (e) => errors.push(e),
    });
    const seen: string[] = [];
    const probe = () => seen.push(`${clock.now() - T0}:${k.isLeader()}`);
    k.start();
    await clock.advance(0);
    // Act: the store goes away for 20 s.
    store.down = true;
    await clock.advance(13_999);
    probe();
    await clock.advance(1);
    probe();
    await clock.advance(6_000);
    store.down = false;
    await clock.advance(1_000);
    // Assess: leader until 15 s - 1 s skew, not after; back with a new token once the store answers.
    expect(seen).toEqual(['13999:true', '14000:false']);
    expect(errors.length).toBeGreaterThan(3);
    expect(k.isLeader()).toBe(true);
    expect(k.token).toBe(2);
    await k.stop();
  });

  it('a holder frozen past its lease knows it is not leader on thaw, before any store call', async () => {
    // Prepare: two processes, two clocks; only b's moves while a is frozen.
    const store = new MemoryStore();
    const clockA = new ManualClock(T0);
    const clockB = new ManualClock(T0);
    const a = keeper(store, clockA, 'a');
    const b = keeper(store, clockB, 'b');
    a.k.start();
    await clockA.advance(0);
    b.k.start();
    await clockB.advance(30_000);
    // Act: a thaws 30 s later; its timers have not fired yet.
    clockA.jump(30_000);
    const leaderOnThaw = a.k.isLeader();
    await clockA.advance(1);
    // Assess
    expect(leaderOnThaw).toBe(false);
    expect(b.k.token).toBe(2);
    // On thaw the overdue renew timer fires first and finds b holding the lease.
    expect(a.events).toEqual(['acquired:1@0', 'lost:1:taken@30000']);
    expect(a.k.isLeader()).toBe(false);
    await a.k.stop();
    await b.k.stop();
  });

  it('reports the lease as taken when another owner holds it at the next renewal', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = keeper(store, clock, 'a');
    a.k.start();
    await clock.advance(0);
    // An operator (or a contender with a broken clock) overwrites the lease.
    await store.put({
      ...keys.lease('reconciler'),
      kind: 'LEASE',
      owner: 'x',
      token: 7,
      expiresAt: T0 + 60_000,
      version: 9,
    });
    await clock.advance(5_000);
    expect(a.events).toEqual(['acquired:1@0', 'lost:1:taken@5000']);
    expect(a.k.isLeader()).toBe(false);
    await a.k.stop();
  });

  it('stops cleanly: no timers left, no more writes', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const { k } = keeper(store, clock, 'a');
    k.start();
    await clock.advance(6_000);
    await k.stop();
    const after = await store.get(keys.lease('reconciler'));
    await clock.advance(60_000);
    expect(clock.timerCount).toBe(0);
    expect(await store.get(keys.lease('reconciler'))).toEqual(after);
    expect(after?.expiresAt).toBe(0);
  });
});
