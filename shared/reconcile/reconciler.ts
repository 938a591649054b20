import type { Settings } from '../config/settings.ts';
import type { Topology } from '../config/topology.ts';
import { isSwitchyardError } from '../errors/errors.ts';
import { type Clock, systemClock, systemTimers, type Timers } from '../lease/clock.ts';
import { LeaseExpiredError, LeaseLostError, StaleFenceError } from '../lease/errors.ts';
import { fencedWriter } from '../lease/fenced.ts';
import { canWrite, LeaseClient, type LeaseHandle, type LeaseHolder } from '../lease/lease.ts';
import { type LeaseTiming, leaseTiming } from '../lease/timing.ts';
import type { Store } from '../store/store.ts';
import type { Duty, DutyContext, DutyLogger, ReconcileDeps } from './duty.ts';

export const RECONCILER_LEASE = 'reconciler';

export interface ReconcilerOptions {
  store: Store;
  /** Stable per process (see `processOwnerId`), so consecutive runs renew rather than re-acquire. */
  owner: string;
  settings: Settings;
  topology: Topology;
  /** The ports duties use; unit tests of duties that need none may leave it out. */
  deps?: ReconcileDeps;
  clock?: Clock;
  timers?: Timers;
  /** The duties to run, in order: the reconciler function hands its list. Read on every run. */
  duties: () => readonly Duty[];
  log?: DutyLogger;
  leaseName?: string;
  /** Overrides of the lease timing derived from `settings`. */
  timing?: Partial<LeaseTiming>;
}

export interface DutyReport {
  name: string;
  status: 'ok' | 'failed' | 'skipped';
  result?: unknown;
  error?: { code: string; message: string };
  ms: number;
}

export interface ReconcileReport {
  leader: boolean;
  token?: number;
  /** Who holds the lease, when we do not. */
  holder?: LeaseHolder;
  duties: DutyReport[];
  /** Duties that ran, whether they succeeded or not. */
  ran: string[];
  /** Duties that ran and threw. */
  failed: string[];
  /** Duties not run because the lease was lost part-way. */
  skipped: string[];
  /** Why the run stopped before the last duty, if it did. */
  stopped?: string;
}

const silent: DutyLogger = { info() {}, warn() {}, error() {} };

function describe(err: unknown): { code: string; message: string } {
  if (isSwitchyardError(err)) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: err.name, message: err.message };
  return { code: 'error', message: String(err) };
}

/**
 * Runs the background duties on exactly one process at a time. Each `run()` (one scheduled
 * invocation on Lambda, one scheduler tick in the local runtime) acquires or renews the
 * `reconciler` lease; only the holder runs the duties, in order, each with fenced writers bound
 * to its token. One duty failing does not stop the others; losing the lease does (the rest are
 * skipped, a newer leader runs them). While duties run, the lease is renewed every `renewMs`.
 */
export class Reconciler {
  private readonly client: LeaseClient;
  private readonly clock: Clock;
  private readonly timers: Timers;
  private readonly timing: LeaseTiming;
  private readonly log: DutyLogger;
  private lease: LeaseHandle | undefined;
  private running: Promise<ReconcileReport> | undefined;
  private renewing: Promise<void> | undefined;

  constructor(private readonly o: ReconcilerOptions) {
    this.clock = o.clock ?? systemClock;
    this.timers = o.timers ?? systemTimers;
    this.timing = leaseTiming(o.settings, o.timing);
    this.log = o.log ?? silent;
    this.client = new LeaseClient({
      store: o.store,
      name: o.leaseName ?? RECONCILER_LEASE,
      owner: o.owner,
      timing: this.timing,
      clock: this.clock,
    });
  }

  /** The current holding, if our clock says we still hold it. */
  current(): LeaseHandle | undefined {
    return canWrite(this.lease) ? this.lease : undefined;
  }

  /** One run. Overlapping calls (a slow run and the next tick) share the run in progress. */
  run(): Promise<ReconcileReport> {
    this.running ??= this.runOnce().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  /** Gives the lease up (graceful shutdown), so a standby takes over at its next run. */
  async release(): Promise<void> {
    await this.running?.catch(() => undefined);
    const lease = this.lease;
    this.lease = undefined;
    if (lease) await this.client.release(lease);
  }

  private async runOnce(): Promise<ReconcileReport> {
    const outcome = await this.client.acquireOrRenew(this.lease);
    if (!outcome.acquired) {
      this.lease = undefined;
      return {
        leader: false,
        ...(outcome.holder ? { holder: outcome.holder } : {}),
        duties: [],
        ran: [],
        failed: [],
        skipped: [],
      };
    }
    this.lease = outcome.lease;
    const token = outcome.lease.token;
    const reports: DutyReport[] = [];
    let stopped: string | undefined;
    const keepAlive = this.keepAlive();
    try {
      for (const duty of this.o.duties()) {
        if (!stopped && !canWrite(this.lease)) {
          await this.renew();
          if (!canWrite(this.lease)) stopped = `lease '${this.client.name}' (token ${token}) lost`;
        }
        if (stopped) {
          reports.push({ name: duty.name, status: 'skipped', ms: 0 });
          continue;
        }
        const started = this.clock.now();
        try {
          const result = await duty.run(this.context(token));
          reports.push({ name: duty.name, status: 'ok', result, ms: this.clock.now() - started });
        } catch (err) {
          const error = describe(err);
          reports.push({ name: duty.name, status: 'failed', error, ms: this.clock.now() - started });
          this.log.error('reconciler duty failed', { duty: duty.name, token, error });
          // Deposed: a newer leader exists; whatever we would do next, it does.
          if (err instanceof StaleFenceError || err instanceof LeaseLostError) stopped = error.message;
        }
      }
    } finally {
      keepAlive.stop();
      await this.renewing;
    }
    return {
      leader: true,
      token,
      duties: reports,
      ran: reports.filter((r) => r.status !== 'skipped').map((r) => r.name),
      failed: reports.filter((r) => r.status === 'failed').map((r) => r.name),
      skipped: reports.filter((r) => r.status === 'skipped').map((r) => r.name),
      ...(stopped ? { stopped } : {}),
    };
  }

  private context(token: number): DutyContext {
    const lease = this.lease!;
    return {
      store: this.o.store,
      now: () => this.clock.now(),
      token,
      lease,
      fenced: fencedWriter(this.o.store, () => this.lease, token),
      isLeader: () => this.lease?.token === token && canWrite(this.lease),
      settings: this.o.settings,
      topology: this.o.topology,
      deps: this.o.deps ?? ({} as ReconcileDeps),
      log: this.log,
    };
  }

  /** Renews once; concurrent callers share it. A lost lease clears the holding. */
  private async renew(): Promise<void> {
    this.renewing ??= (async () => {
      const lease = this.lease;
      if (!lease) return;
      try {
        this.lease = await this.client.renew(lease);
      } catch (err) {
        if (err instanceof LeaseLostError || err instanceof LeaseExpiredError) {
          this.lease = undefined;
          this.log.warn('reconciler lease lost', { token: lease.token, error: describe(err) });
        } else {
          // The store did not answer: keep the holding; the clock ends it if no renewal gets through.
          this.log.warn('reconciler lease renewal failed', { token: lease.token, error: describe(err) });
        }
      }
    })().finally(() => {
      this.renewing = undefined;
    });
    await this.renewing;
  }

  /** Renews every `renewMs` while duties run, so a long duty keeps its write window. */
  private keepAlive(): { stop(): void } {
    let active = true;
    let timer: unknown;
    const schedule = () => {
      const lease = this.lease;
      if (!active || !lease) return;
      // Due renewMs after the last renewal was sent; overdue means the last attempt failed:
      // retry at a modest pace rather than in a loop against a store that does not answer.
      const due = lease.sentAt + this.timing.renewMs - this.clock.now();
      const delay = due > 0 ? due : Math.min(1000, this.timing.renewMs);
      timer = this.timers.setTimeout(() => {
        void this.renew().then(schedule);
      }, delay);
    };
    schedule();
    return {
      stop: () => {
        active = false;
        this.timers.clearTimeout(timer);
      },
    };
  }
}
