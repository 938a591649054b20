import type { SessionView } from './model.ts';

/**
 * What a session reaches into beyond its own items (SQS splits, database branches), so the
 * lifecycle knows none of them. Every member is required, and `SessionDeps.features` is too:
 * a constructor of session dependencies that forgets the release does not compile. (It was once
 * optional, and the expiry duty ended sessions without ending their splits: the output queue
 * kept taking matching messages long after the session was gone.)
 */
export interface SessionFeatures {
  /** Checks the session's branches exist and belong to its owner; extends their TTL. */
  attachBranches(session: SessionView): Promise<void>;
  /** Registers the session's splits; returns the output-queue map. */
  registerSplits(session: SessionView): Promise<Record<string, string>>;
  /** Extra fields for a cluster's child spec (e.g. branch connection details for the default cluster). */
  childSpecExtras(session: SessionView, clusterId: string): Promise<Record<string, unknown>>;
  /**
   * Releases what the session holds outside its own items; called on every ending, first, and
   * again by the reconciler while anything is left. Idempotent, and driven by the store:
   * split registrations are removed (so splitters stop routing to the session once their caches
   * expire) and the splits marked draining (the retire duty drains the output queues back to
   * each message's cluster fallback, then deletes them). Branches need nothing: the session
   * stopped extending their TTL.
   */
  release(session: SessionView): Promise<void>;
  /**
   * Ids of the sessions that still hold something `release` removes (a registration, a split
   * not yet draining), whatever their state: the reconciler releases those that ended.
   */
  holders(): Promise<Set<string>>;
}
