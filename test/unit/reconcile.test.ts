import { describe, expect, it } from 'vitest';
import { RECONCILER_DUTIES } from '../../functions/reconciler/duties.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { ManualClock } from '../../shared/lease/clock.ts';
import { LeaseExpiredError, StaleFenceError } from '../../shared/lease/errors.ts';
import type { Duty, DutyContext } from '../../shared/reconcile/duty.ts';
import { Reconciler } from '../../shared/reconcile/reconciler.ts';
import { keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Attrs, Key, StoredItem, UpdateOptions } from '../../shared/store/store.ts';

const settings = parseSettings({}); // lease 15 s, renew 5 s, reconcile every 5 s
const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'], region: 'us-east-1' }],
});
const T0 = 10_000_000;
const X = keys.session('x');

function reconciler(store: MemoryStore, clock: ManualClock, owner: string, duties: Duty[]) {
  return new Reconciler({ store, owner, settings, topology, clock, timers: clock, duties: () => duties });
}

/** A duty that records the token it ran under and writes one fenced item. */
function writer(name: string, seen: string[], key: Key = X): Duty {
  return {
    name,
    async run(ctx: DutyContext) {
      seen.push(`${name}:${ctx.token}`);
      await ctx.fenced.put({ ...key, kind: 'SESSION', by: name, token: ctx.token });
      return { wrote: 1 };
    },
  };
}

/** Holds the next update until `release()`: a write that passed its checks but has not landed. */
class HeldUpdates extends MemoryStore {
  hold = false;
  private waiting: (() => void)[] = [];
  override async update(key: Key, set: Attrs, opts?: UpdateOptions): Promise<StoredItem> {
    if (this.hold) {
      this.hold = false;
      await new Promise<void>((r) => this.waiting.push(r));
    }
    return await super.update(key, set, opts);
  }
  get held(): number {
    return this.waiting.length;
  }
  release(): void {
    this.waiting.shift()?.();
  }
}

describe('Reconciler', () => {
  it('runs the duties on the leader only', async () => {
    // Prepare
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const seen: string[] = [];
    const a = reconciler(store, clock, 'a', [writer('one', seen)]);
    const b = reconciler(store, clock, 'b', [writer('one', seen)]);
    // Act
    const ra = await a.run();
    const rb = await b.run();
    // Assess
    expect(ra).toMatchObject({ leader: true, token: 1, ran: ['one'], failed: [], skipped: [] });
    expect(ra.duties[0]).toMatchObject({ name: 'one', status: 'ok', result: { wrote: 1 } });
    expect(rb).toEqual({
      leader: false,
      holder: { owner: 'a', token: 1, expiresAt: T0 + 15_000 },
      duties: [],
      ran: [],
      failed: [],
      skipped: [],
    });
    expect(seen).toEqual(['one:1']);
    expect(await store.get(X)).toMatchObject({ by: 'one', fence: 1 });
  });

  it('renews on each run (same token) and gives duties the whole context', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const contexts: DutyContext[] = [];
    const probe: Duty = {
      name: 'probe',
      run: async (ctx) => {
        contexts.push(ctx);
      },
    };
    const a = reconciler(store, clock, 'a', [probe]);
    await a.run();
    await clock.advance(5_000);
    await a.run();
    const [first, second] = contexts;
    expect([first?.token, second?.token]).toEqual([1, 1]);
    expect(second?.lease.sentAt).toBe(T0 + 5_000);
    expect(second?.now()).toBe(T0 + 5_000);
    expect(second?.isLeader()).toBe(true);
    expect(second?.settings).toBe(settings);
    expect(second?.topology).toBe(topology);
    expect(second?.fenced.token).toBe(1);
  });

  it('runs every duty in order even when one fails, and reports each', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const seen: string[] = [];
    const failing: Duty = {
      name: 'broken',
      run: async () => {
        seen.push('broken');
        throw new Error('boom');
      },
    };
    const a = reconciler(store, clock, 'a', [
      writer('first', seen),
      failing,
      writer('last', seen, keys.session('y')),
    ]);
    const report = await a.run();
    expect(seen).toEqual(['first:1', 'broken', 'last:1']);
    expect(report).toMatchObject({ ran: ['first', 'broken', 'last'], failed: ['broken'], skipped: [] });
    expect(report.duties[1]).toMatchObject({ status: 'failed', error: { code: 'Error', message: 'boom' } });
    expect(report.stopped).toBeUndefined();
  });

  it('a standby takes over after a dead leader’s lease expires, within one scheduler interval of expiry', async () => {
    // Prepare: a runs at 0, 5, 10 s; b at 2.5, 7.5, ... s (both every reconcileEveryMs).
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const seen: string[] = [];
    const a = reconciler(store, clock, 'a', [writer('d', seen)]);
    const b = reconciler(store, clock, 'b', [writer('d', seen)]);
    const every = settings.reconcileEveryMs;
    let lastRunOfA = 0;
    let takeover: number | undefined;
    // Act: a dies after its run at 10 s.
    for (let t = 0; t <= 60_000 && takeover === undefined; t += every / 2) {
      const now = clock.now() - T0;
      const phaseA = now % every === 0;
      if (phaseA && now <= 10_000) {
        expect((await a.run()).leader).toBe(true);
        lastRunOfA = now;
      } else if (!phaseA && (await b.run()).leader) {
        takeover = now;
      }
      await clock.advance(every / 2);
    }
    // Assess: a's lease ran until 10 s + 15 s; b takes it at its first run after that.
    expect(takeover).toBeGreaterThan(lastRunOfA + settings.leaseMs);
    expect(takeover).toBeLessThanOrEqual(lastRunOfA + settings.leaseMs + every);
    expect(seen.at(-1)).toBe('d:2');
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: 'b', token: 2 });
  });

  it('rejects a deposed leader’s duty write that lands after the new leader wrote the item', async () => {
    // Prepare: a's duty passes its checks, then its write stalls on the way to the store.
    const store = new HeldUpdates();
    const clock = new ManualClock(T0);
    const order: string[] = [];
    const slow: Duty = {
      name: 'sync',
      run: async (ctx) => {
        await ctx.fenced.update(X, { by: `token-${ctx.token}` });
        order.push(`sync:${ctx.token}`);
      },
    };
    const after: Duty = { name: 'after', run: async () => order.push('after') };
    const a = reconciler(store, clock, 'a', [slow, after]);
    const b = reconciler(store, clock, 'b', [slow]);
    await store.put({ ...X, kind: 'SESSION' });
    store.hold = true;
    const aRun = a.run();
    await clock.advance(0);
    expect(store.held).toBe(1);
    // Act: a is frozen past its lease; b takes over and writes the item; then a's write lands.
    clock.jump(settings.leaseMs + 1);
    const bReport = await b.run();
    store.release();
    const aReport = await aRun;
    // Assess
    expect(bReport).toMatchObject({ leader: true, token: 2, ran: ['sync'], failed: [] });
    expect(aReport).toMatchObject({
      leader: true,
      token: 1,
      ran: ['sync'],
      failed: ['sync'],
      skipped: ['after'],
    });
    expect(aReport.duties[0]?.error?.code).toBe('stale_fence');
    expect(aReport.stopped).toMatch(/token 1 rejected/);
    expect(order).toEqual(['sync:2']);
    expect(await store.get(X)).toMatchObject({ by: 'token-2', fence: 2 });
  });

  it('a leader frozen past its write window does not write at all when it wakes', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    let wake: () => void = () => {};
    const errors: unknown[] = [];
    const sleepy: Duty = {
      name: 'sleepy',
      run: async (ctx) => {
        await new Promise<void>((r) => {
          wake = r;
        });
        try {
          await ctx.fenced.put({ ...X, kind: 'SESSION' });
        } catch (err) {
          errors.push(err);
          throw err;
        }
      },
    };
    const a = reconciler(store, clock, 'a', [sleepy]);
    const run = a.run();
    await clock.advance(0);
    clock.jump(13_000); // writable until 15 s - 1 s skew - 1 s margin; the renew timer did not fire
    wake();
    const report = await run;
    expect(errors[0]).toBeInstanceOf(LeaseExpiredError);
    expect(report.failed).toEqual(['sleepy']);
    expect(await store.get(X)).toBeUndefined();
  });

  it('keeps the lease alive while a long duty runs', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    let finish: () => void = () => {};
    const long: Duty = {
      name: 'long',
      run: async (ctx) => {
        await new Promise<void>((r) => {
          finish = r;
        });
        await ctx.fenced.put({ ...X, kind: 'SESSION' });
        return ctx.isLeader();
      },
    };
    const a = reconciler(store, clock, 'a', [long]);
    const run = a.run();
    await clock.advance(40_000);
    finish();
    const report = await run;
    expect(report.duties[0]).toMatchObject({ status: 'ok', result: true });
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ token: 1, expiresAt: T0 + 55_000 });
    // Renewals stop with the run.
    expect(clock.timerCount).toBe(0);
  });

  it('skips the remaining duties once the lease is lost between duties', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const seen: string[] = [];
    const stealer: Duty = {
      name: 'stealer',
      run: async () => {
        // Someone else took the lease (an operator, or a contender with a broken clock).
        await store.put({
          ...keys.lease('reconciler'),
          kind: 'LEASE',
          owner: 'z',
          token: 9,
          expiresAt: 0,
          version: 99,
        });
        clock.jump(13_000);
      },
    };
    const a = reconciler(store, clock, 'a', [stealer, writer('next', seen)]);
    const report = await a.run();
    expect(report).toMatchObject({ ran: ['stealer'], skipped: ['next'], failed: [] });
    expect(report.stopped).toMatch(/lost/);
    expect(seen).toEqual([]);
  });

  it('overlapping runs share one run', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const seen: string[] = [];
    const a = reconciler(store, clock, 'a', [writer('once', seen)]);
    const [r1, r2] = await Promise.all([a.run(), a.run()]);
    expect(r1).toBe(r2);
    expect(seen).toEqual(['once:1']);
  });

  it('release lets a standby take over at its next run', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const a = reconciler(store, clock, 'a', []);
    const b = reconciler(store, clock, 'b', []);
    await a.run();
    await a.release();
    await clock.advance(1);
    expect(await b.run()).toMatchObject({ leader: true, token: 2 });
  });

  it('a deposed stale-fence error stops the run even mid-list', async () => {
    const store = new MemoryStore();
    const clock = new ManualClock(T0);
    const deposed: Duty = {
      name: 'deposed',
      run: async () => {
        throw new StaleFenceError(X, 1, 2);
      },
    };
    const seen: string[] = [];
    const report = await reconciler(store, clock, 'a', [deposed, writer('next', seen)]).run();
    expect(report).toMatchObject({ ran: ['deposed'], failed: ['deposed'], skipped: ['next'] });
    expect(seen).toEqual([]);
  });
});

describe('the reconciler function’s duty list', () => {
  it('holds every duty once, sessions ending before their split queues retire', () => {
    const names = RECONCILER_DUTIES.map((d) => d.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toEqual(
      expect.arrayContaining([
        'expire-sessions',
        'resend-children',
        'sync-branches',
        'retire-split-queues',
        'expire-subscribes',
      ]),
    );
    expect(names.indexOf('expire-sessions')).toBeLessThan(names.indexOf('retire-split-queues'));
  });
});
