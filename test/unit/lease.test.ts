import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { ConditionFailedError, ValidationError } from '../../shared/errors/errors.ts';
import { ManualClock } from '../../shared/lease/clock.ts';
import { LeaseExpiredError, LeaseLostError, StaleFenceError } from '../../shared/lease/errors.ts';
import { fencedDelete, fencedPut, fencedUpdate, fencedWriter } from '../../shared/lease/fenced.ts';
import {
  believesUntil,
  canWrite,
  isHeld,
  LeaseClient,
  type LeaseHandle,
  writableUntil,
} from '../../shared/lease/lease.ts';
import { processOwnerId } from '../../shared/lease/owner.ts';
import { leaseTiming } from '../../shared/lease/timing.ts';
import { keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { NewItem, Store, WriteOptions } from '../../shared/store/store.ts';

const timing = leaseTiming(parseSettings({})); // 15 s lease, 5 s renew, 1 s skew, 1 s margin
const T0 = 1_000_000;

function setup(store: Store = new MemoryStore()) {
  const clock = new ManualClock(T0);
  const client = (owner: string, s: Store = store, c = clock) =>
    new LeaseClient({ store: s, name: 'reconciler', owner, timing, clock: c });
  return { store, clock, client };
}

async function held(client: LeaseClient): Promise<LeaseHandle> {
  const out = await client.acquire();
  if (!out.acquired) throw new Error('expected to acquire');
  return out.lease;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

/** Holds every put until `release()`: two contenders can read, then write, in any order. */
class HeldPuts extends MemoryStore {
  private waiting: (() => void)[] = [];
  holding = false;
  override async put(item: NewItem, opts?: WriteOptions) {
    if (this.holding) await new Promise<void>((r) => this.waiting.push(r));
    return await super.put(item, opts);
  }
  releaseNext(): void {
    this.waiting.shift()?.();
  }
}

describe('lease timing', () => {
  it('derives the defaults from the settings', () => {
    expect(timing).toEqual({ leaseMs: 15_000, renewMs: 5_000, maxClockSkewMs: 1_000, writeMarginMs: 1_000 });
  });

  it('scales skew and margin down for short leases', () => {
    expect(leaseTiming({ leaseMs: 2_000, renewMs: 500 })).toEqual({
      leaseMs: 2_000,
      renewMs: 500,
      maxClockSkewMs: 200,
      writeMarginMs: 200,
    });
  });

  it.each([
    [
      'renew not below the writable window',
      { leaseMs: 15_000, renewMs: 7_000, maxClockSkewMs: 4_000, writeMarginMs: 4_000 },
    ],
    ['negative skew', { leaseMs: 15_000, renewMs: 5_000, maxClockSkewMs: -1 }],
  ])('rejects unsafe timing: %s', (_name, t) => {
    expect(() => leaseTiming({ leaseMs: t.leaseMs, renewMs: t.renewMs }, t)).toThrow(ValidationError);
  });

  it('computes belief and write windows from the stored expiry', () => {
    const lease = { expiresAt: 20_000, timing } as LeaseHandle;
    expect(believesUntil(lease)).toBe(19_000);
    expect(writableUntil(lease)).toBe(18_000);
    expect([isHeld(lease, 18_999), isHeld(lease, 19_000)]).toEqual([true, false]);
    expect([canWrite(lease, 17_999), canWrite(lease, 18_000)]).toEqual([true, false]);
  });
});

describe('LeaseClient', () => {
  it('acquires an absent lease with token 1 and writes the lease item', async () => {
    const { store, client } = setup();
    const lease = await held(client('a'));
    expect(lease).toMatchObject({
      name: 'reconciler',
      owner: 'a',
      token: 1,
      sentAt: T0,
      expiresAt: T0 + 15_000,
    });
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({
      kind: 'LEASE',
      owner: 'a',
      token: 1,
      expiresAt: T0 + 15_000,
      version: 1,
    });
  });

  it('does not take a lease that has not expired, even at the exact expiry, and says who holds it', async () => {
    const { clock, client } = setup();
    await held(client('a'));
    clock.jump(15_000);
    expect(await client('b').acquire()).toEqual({
      acquired: false,
      holder: { owner: 'a', token: 1, expiresAt: T0 + 15_000 },
    });
  });

  it('takes over an expired lease with the next token and the next version', async () => {
    const { store, clock, client } = setup();
    await held(client('a'));
    clock.jump(15_001);
    const b = await held(client('b'));
    expect(b.token).toBe(2);
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: 'b', token: 2, version: 2 });
  });

  it('renews: same token, later expiry', async () => {
    const { store, clock, client } = setup();
    const a = client('a');
    const first = await held(a);
    clock.jump(5_000);
    const renewed = await a.renew(first);
    expect(renewed).toMatchObject({ token: 1, sentAt: T0 + 5_000, expiresAt: T0 + 20_000, version: 2 });
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ token: 1, expiresAt: T0 + 20_000 });
  });

  it('a holder paused past its expiry cannot renew after a takeover', async () => {
    const { store, clock, client } = setup();
    const a = client('a');
    const first = await held(a);
    clock.jump(15_001);
    await held(client('b'));
    // a's clock says its own expiry passed: it refuses without sending...
    expect(await rejection(a.renew(first))).toBeInstanceOf(LeaseExpiredError);
    // ...and a renew sent just before expiry that lands after the takeover is refused by the store.
    const sentEarly = new LeaseClient({
      store,
      name: 'reconciler',
      owner: 'a',
      timing,
      clock: { now: () => T0 + 14_999 },
    });
    expect(await rejection(sentEarly.renew(first))).toBeInstanceOf(LeaseLostError);
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: 'b', token: 2 });
  });

  it('out-of-order renewals of one holder cannot move the expiry backwards', async () => {
    const { store, clock, client } = setup();
    const a = client('a');
    const first = await held(a);
    clock.jump(5_000);
    const second = await a.renew(first); // expiresAt T0 + 20 s, believed until T0 + 19 s
    // A renewal built from the older holding lands late:
    clock.jump(1_000);
    expect(await rejection(a.renew(first))).toBeInstanceOf(LeaseLostError);
    expect((await store.get(keys.lease('reconciler')))?.expiresAt).toBe(second.expiresAt);
  });

  it('releases: expiry 0, token kept, a standby takes over at once with the next token', async () => {
    const { store, client } = setup();
    const a = client('a');
    const lease = await held(a);
    expect(await a.release(lease)).toBe(true);
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: 'a', token: 1, expiresAt: 0 });
    expect((await held(client('b'))).token).toBe(2);
  });

  it('a late release or renew of a deposed holder does not touch the new holding', async () => {
    const { store, clock, client } = setup();
    const a = client('a');
    const old = await held(a);
    expect(await a.release(old)).toBe(true);
    const b = await held(client('b'));
    expect(await a.release(old)).toBe(false);
    expect(await rejection(a.renew(old))).toBeInstanceOf(LeaseLostError);
    clock.jump(1);
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({
      owner: 'b',
      token: b.token,
      expiresAt: b.expiresAt,
    });
  });

  it('two contenders that read the same expired lease: exactly one takes it', async () => {
    // Prepare
    const store = new HeldPuts();
    const { clock, client } = setup(store);
    await held(client('old'));
    clock.jump(15_001);
    store.holding = true;
    // Act: both read v1 (expired), then both puts go out.
    const a = client('a').acquire();
    const b = client('b').acquire();
    await new Promise((r) => setImmediate(r));
    store.releaseNext();
    store.releaseNext();
    const outcomes = [await a, await b];
    // Assess
    expect(outcomes.map((o) => o.acquired).sort()).toEqual([false, true]);
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ token: 2, version: 2 });
  });

  it('a contender that read before a takeover and a release cannot reuse the token', async () => {
    const store = new HeldPuts();
    const { clock, client } = setup(store);
    await held(client('old'));
    clock.jump(15_001);
    const a = client('a');
    // b reads v1 (expired, token 1) and stalls before its put.
    store.holding = true;
    const late = client('b').acquire();
    await new Promise((r) => setImmediate(r));
    store.holding = false;
    const aLease = await held(a); // token 2
    await a.release(aLease); // expiresAt 0: "expired" again
    store.releaseNext();
    expect(await late).toEqual({ acquired: false });
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: 'a', token: 2 });
  });

  it('acquireOrRenew renews a live holding, re-acquires an expired one, and reports the holder otherwise', async () => {
    const { clock, client } = setup();
    const a = client('a');
    const first = await held(a);
    clock.jump(4_000);
    const renewed = await a.acquireOrRenew(first);
    expect(renewed).toMatchObject({ acquired: true, lease: { token: 1, sentAt: T0 + 4_000 } });
    clock.jump(20_000);
    const again = await a.acquireOrRenew(first);
    expect(again).toMatchObject({ acquired: true, lease: { token: 2 } });
    expect(await client('b').acquireOrRenew()).toMatchObject({
      acquired: false,
      holder: { owner: 'a', token: 2 },
    });
  });

  it('gives each process one stable owner id', () => {
    expect(processOwnerId()).toBe(processOwnerId());
    expect(processOwnerId()).toMatch(/^.+:\d+:[0-9a-f]{8}$/);
  });
});

describe('fenced writes', () => {
  const item = keys.session('s1');

  async function twoHolders() {
    const { store, clock, client } = setup();
    const a = await held(client('a'));
    clock.jump(15_001);
    const b = await held(client('b'));
    return { store, clock, a, b, client };
  }

  it('fencedPut and fencedUpdate set fence to the token', async () => {
    const { store, client } = setup();
    const a = await held(client('a'));
    await fencedPut(store, a, { ...item, kind: 'SESSION', state: 'pending' });
    expect(await store.get(item)).toMatchObject({ fence: 1, state: 'pending' });
    const out = await fencedUpdate(store, a, item, { state: 'ready' });
    expect(out).toMatchObject({ fence: 1, state: 'ready', version: 2 });
  });

  it('rejects a deposed holder writing an item the new holder wrote, with StaleFenceError', async () => {
    // Prepare: a (token 1) and b (token 2); a's writes are "in flight" from before its expiry.
    const { store, a, b } = await twoHolders();
    const inFlight = { ...a, clock: { now: () => T0 } };
    await fencedPut(store, inFlight, { ...item, kind: 'SESSION', state: 'pending' });
    await fencedUpdate(store, b, item, { state: 'ready' });
    // Act
    const errs = [
      await rejection(fencedUpdate(store, inFlight, item, { state: 'ended' })),
      await rejection(fencedPut(store, inFlight, { ...item, kind: 'SESSION', state: 'gone' })),
      await rejection(fencedDelete(store, inFlight, item)),
    ];
    // Assess
    for (const err of errs) {
      expect(err).toBeInstanceOf(StaleFenceError);
      expect((err as StaleFenceError).details).toMatchObject({ token: 1, fence: 2 });
    }
    expect(await store.get(item)).toMatchObject({ state: 'ready', fence: 2 });
  });

  it('accepts an older token on an item no newer holder touched (the hole the clock check narrows)', async () => {
    const { store, a } = await twoHolders();
    const inFlight = { ...a, clock: { now: () => T0 } };
    const out = await fencedPut(store, inFlight, { ...item, kind: 'SESSION' });
    expect(out.fence).toBe(1);
  });

  it('refuses to write once our clock passes the write window, without calling the store', async () => {
    const { store, clock, client } = setup();
    const a = await held(client('a'));
    clock.jump(13_000); // writable until T0 + 15 s - 1 s skew - 1 s margin
    const err = await rejection(fencedPut(store, a, { ...item, kind: 'SESSION' }));
    expect(err).toBeInstanceOf(LeaseExpiredError);
    expect(await store.get(item)).toBeUndefined();
    clock.jump(-1);
    await fencedPut(store, a, { ...item, kind: 'SESSION' });
    expect(await store.get(item)).toBeDefined();
  });

  it('with recheck, refuses when the lease item changed hands', async () => {
    const { store, a } = await twoHolders();
    const stillBelieving = { ...a, clock: { now: () => T0 } };
    const err = await rejection(
      fencedPut(store, stillBelieving, { ...item, kind: 'SESSION' }, { recheck: true }),
    );
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(await store.get(item)).toBeUndefined();
  });

  it('with recheck, writes when the lease is still ours', async () => {
    const { store, client } = setup();
    const a = await held(client('a'));
    await fencedPut(store, a, { ...item, kind: 'SESSION' }, { recheck: true });
    expect((await store.get(item))?.fence).toBe(1);
  });

  it("keeps the caller's own conditions and reports their failure as a plain conflict", async () => {
    const { store, client } = setup();
    const a = await held(client('a'));
    await fencedPut(store, a, { ...item, kind: 'SESSION', state: 'pending' });
    const err = await rejection(
      fencedUpdate(
        store,
        a,
        item,
        { state: 'ready' },
        { conditions: [{ type: 'equals', attr: 'state', value: 'ended' }] },
      ),
    );
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect(err).not.toBeInstanceOf(StaleFenceError);
    const created = await rejection(
      fencedPut(store, a, { ...item, kind: 'SESSION' }, { conditions: [{ type: 'absent' }] }),
    );
    expect(created).toBeInstanceOf(ConditionFailedError);
  });

  it('passes add and remove through', async () => {
    const { store, client } = setup();
    const a = await held(client('a'));
    await fencedPut(store, a, { ...item, kind: 'SESSION', error: 'x' });
    const out = await fencedUpdate(store, a, item, {}, { add: { retries: 1 }, remove: ['error'] });
    expect(out).toMatchObject({ retries: 1, fence: 1 });
    expect('error' in out).toBe(false);
  });

  it('does not let the caller set fence', async () => {
    const { store, client } = setup();
    const a = await held(client('a'));
    expect(await rejection(fencedPut(store, a, { ...item, kind: 'SESSION', fence: 99 }))).toBeInstanceOf(
      ValidationError,
    );
  });

  it('fencedWriter follows renewals and refuses after the holding is gone', async () => {
    const { store, clock, client } = setup();
    const c = client('a');
    let lease: LeaseHandle | undefined = await held(c);
    const writer = fencedWriter(store, () => lease, 1);
    clock.jump(12_000);
    lease = await c.renew(lease); // without following the renewal, 13 s in would be past the window
    clock.jump(2_000);
    await writer.put({ ...item, kind: 'SESSION' });
    lease = undefined;
    expect(await rejection(writer.update(item, { a: 1 }))).toBeInstanceOf(LeaseLostError);
    expect(writer.token).toBe(1);
  });
});
