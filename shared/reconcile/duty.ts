import type { Settings } from '../config/settings.ts';
import type { Topology } from '../config/topology.ts';
import type { FencedWriter } from '../lease/fenced.ts';
import type { LeaseHandle } from '../lease/lease.ts';
import type { Store } from '../store/store.ts';

/**
 * The ports (clients, senders) duties may use beyond the store. Empty here on purpose: a feature
 * whose duty needs one adds it by declaration merging, next to the duty, e.g.
 *
 *   declare module '../reconcile/duty.ts' {
 *     interface ReconcileDeps { sqs: SQSClient }
 *   }
 *
 * The reconciler handler passes the functions' `Deps` here, so it stops compiling until `Deps`
 * provides every port a duty declared. The core stays free of transport types.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging, see above
export interface ReconcileDeps {}

export interface DutyLogger {
  info(message: string, extra?: Record<string, unknown>): void;
  warn(message: string, extra?: Record<string, unknown>): void;
  error(message: string, extra?: Record<string, unknown>): void;
}

/** What a duty gets on each run, while this process holds the reconciler lease. */
export interface DutyContext {
  store: Store;
  /** The current time on this process's clock (a function: long duties see it move). */
  now: () => number;
  /** The fencing token of this holding. */
  token: number;
  /** The holding as of the duty's start (the reconciler may renew it while the duty runs). */
  lease: LeaseHandle;
  /**
   * Writes fenced by the token: use these for every write a duty makes. A deposed leader's late
   * write to an item a newer leader wrote fails with `StaleFenceError`.
   */
  fenced: FencedWriter;
  /** False once our clock says we may no longer write under the lease: stop early, a newer leader finishes. */
  isLeader: () => boolean;
  settings: Settings;
  topology: Topology;
  deps: ReconcileDeps;
  log: DutyLogger;
}

/**
 * A background duty. Runs once per reconciler run on the leader only, in the order of the list it is in.
 * It must be idempotent: it may run again after a crash half-way, or run twice around a
 * failover, so it re-derives what to do from the store on every run.
 */
export interface Duty {
  readonly name: string;
  /** Whatever it returns is reported (and logged); keep it small, e.g. counts. */
  run(ctx: DutyContext): Promise<unknown>;
}
