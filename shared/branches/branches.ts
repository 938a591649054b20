import { ConditionFailedError, NotFoundError, ValidationError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Attrs, Store } from '../store/store.ts';
import { type Branch, type BranchView, fromItem, isLive, toItem, toView } from './branch.ts';
import { BranchDeletingError, BranchIdTakenError } from './errors.ts';
import { branchDatabaseName, newBranchId } from './names.ts';
import {
  type BranchPhase,
  type BranchStatusReport,
  BranchStatusReportSchema,
  CreateBranchSchema,
  DEFAULT_TTL_SECS,
} from './schemas.ts';

/**
 * Store operations on branches (`BRANCH#<id>`). Every change is a conditional update on the
 * version that was read; a lost race is retried from a fresh read, never overwritten.
 */

/** Deleted branches stay readable this long, so `GET` can say "deleted" rather than "not found". */
export const TOMBSTONE_MS = 24 * 3600 * 1000;
const MAX_ATTEMPTS = 8;

export async function loadBranch(store: Store, id: string, now = Date.now()): Promise<Branch | undefined> {
  const item = await store.get(keys.branch(id), { consistent: true });
  if (!item) return undefined;
  // The tombstone's expiry is enforced here: DynamoDB TTL deletes late and the fake never does.
  if (typeof item.expiresAt === 'number' && item.expiresAt <= now) return undefined;
  return fromItem(item);
}

/**
 * Reads the branch, asks `decide` what to set, and writes it only if nobody wrote in between.
 * `decide` returning undefined means "nothing to do" (the transition does not apply).
 */
async function mutate(
  store: Store,
  id: string,
  now: number,
  decide: (b: Branch) => (Attrs & { expiresAt?: number }) | undefined,
  remove?: string[],
): Promise<{ branch: Branch; changed: boolean } | undefined> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await loadBranch(store, id, now);
    if (!current) return undefined;
    const set = decide(current);
    if (!set) return { branch: current, changed: false };
    try {
      const written = await store.update(
        keys.branch(id),
        { ...set, updatedAt: now },
        { conditions: [{ type: 'version', version: current.version }], ...(remove ? { remove } : {}) },
      );
      return { branch: fromItem(written), changed: true };
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
  throw new ConditionFailedError(`branch '${id}' kept changing while it was being updated: retry`, { id });
}

/** Creation time plus the item version: unique per incarnation even within one millisecond. */
function generation(now: number, version: number): string {
  return `${new Date(now).toISOString()}#${version}`;
}

function parseCreate(input: unknown) {
  const parsed = CreateBranchSchema.safeParse(input);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`);
    throw new ValidationError(`invalid branch request: ${problems.join('; ')}`, { problems });
  }
  return parsed.data;
}

/**
 * Creates a branch, written (phase `init`) before anything is sent anywhere.
 *
 * With an `id` that names a live branch of the same owner and database, that branch is reused
 * and its TTL extended (never shortened). A failed, deleted or expired branch of the same owner
 * is replaced by a new incarnation (new generation), so the connector rebuilds it.
 */
export async function createBranch(
  store: Store,
  owner: string,
  input: unknown,
  now: number,
): Promise<{ branch: BranchView; created: boolean }> {
  const req = parseCreate(input);
  const id = req.id ?? newBranchId();
  const expireAt = now + (req.ttlSecs ?? DEFAULT_TTL_SECS) * 1000;
  const fresh: Branch = {
    id,
    database: req.database,
    name: branchDatabaseName(id),
    mode: req.mode,
    generation: generation(now, 1),
    phase: 'init',
    owner,
    expireAt,
    createdAt: now,
    updatedAt: now,
    version: 1,
  };

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const existing = await store.get(keys.branch(id), { consistent: true });
    try {
      if (!existing) {
        // Two creators of the same id: exactly one wins; the other re-reads and reuses.
        await store.put(toItem(fresh), { conditions: [{ type: 'absent' }] });
        return { branch: toView(fresh), created: true };
      }
      if (typeof existing.expiresAt === 'number' && existing.expiresAt <= now) {
        // A tombstone past its retention counts as absent, whoever owned it.
        const next: Branch = {
          ...fresh,
          version: existing.version + 1,
          generation: generation(now, existing.version + 1),
        };
        await store.put(toItem(next), { conditions: [{ type: 'version', version: existing.version }] });
        return { branch: toView(next), created: true };
      }
      const b = fromItem(existing);
      if (b.owner !== owner) throw new BranchIdTakenError(id, 'other_owner');
      if (b.phase === 'deleting') throw new BranchDeletingError(id);
      if (isLive(b, now)) {
        if (b.database !== req.database) throw new BranchIdTakenError(id, 'other_database', b.database);
        if (b.expireAt >= expireAt) return { branch: toView(b), created: false };
        const written = await store.update(
          keys.branch(id),
          { expireAt, updatedAt: now },
          { conditions: [{ type: 'version', version: b.version }] },
        );
        return { branch: toView(fromItem(written)), created: false };
      }
      // Failed, deleted (tombstone) or expired but not yet swept: a new incarnation replaces it.
      const next: Branch = { ...fresh, version: b.version + 1, generation: generation(now, b.version + 1) };
      await store.put(toItem(next), { conditions: [{ type: 'version', version: b.version }] });
      return { branch: toView(next), created: true };
    } catch (err) {
      if (!(err instanceof ConditionFailedError)) throw err;
    }
  }
  throw new ConditionFailedError(`branch '${id}' kept changing while it was being created: retry`, { id });
}

/** The owner's branch; someone else's is reported as not found, so ids do not leak. */
export async function getBranch(
  store: Store,
  owner: string,
  id: string,
  now = Date.now(),
): Promise<BranchView> {
  const b = await loadBranch(store, id, now);
  if (!b || b.owner !== owner) throw new NotFoundError('branch', id);
  return toView(b);
}

/** The owner's branches, oldest first; deleted ones only when asked. */
export async function listBranches(
  store: Store,
  owner: string,
  opts: { includeDeleted?: boolean; now?: number } = {},
): Promise<BranchView[]> {
  const now = opts.now ?? Date.now();
  const items = await store.listByKind(KINDS.branch);
  return items
    .filter((i) => typeof i.expiresAt !== 'number' || i.expiresAt > now)
    .map(fromItem)
    .filter((b) => b.owner === owner && (opts.includeDeleted || b.phase !== 'deleted'))
    .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1))
    .map(toView);
}

/** Marks the branch `deleting`; the sync controller sends the drop. Idempotent. */
export async function requestDelete(
  store: Store,
  owner: string,
  id: string,
  now: number,
): Promise<BranchView> {
  const result = await mutate(store, id, now, (b) => {
    if (b.owner !== owner) throw new NotFoundError('branch', id);
    if (b.phase === 'deleting' || b.phase === 'deleted') return undefined;
    return { phase: 'deleting', deleteReason: 'requested' };
  });
  if (!result) throw new NotFoundError('branch', id);
  return toView(result.branch);
}

/**
 * Keeps branches alive while a session uses them: pushes `expireTime` out to `untilMs`, never
 * back. Only live branches (of `owner`, when given) are extended.
 */
export async function extendTtl(
  store: Store,
  ids: string[],
  untilMs: number,
  opts: { owner?: string; now?: number } = {},
): Promise<{ extended: string[]; skipped: string[] }> {
  const now = opts.now ?? Date.now();
  const extended: string[] = [];
  const skipped: string[] = [];
  for (const id of new Set(ids)) {
    const result = await mutate(store, id, now, (b) => {
      if (opts.owner !== undefined && b.owner !== opts.owner) return undefined;
      if (!isLive(b, now) || b.expireAt >= untilMs) return undefined;
      return { expireAt: untilMs };
    });
    const b = result?.branch;
    const ok =
      b !== undefined &&
      (opts.owner === undefined || b.owner === opts.owner) &&
      isLive(b, now) &&
      b.expireAt >= untilMs;
    (ok ? extended : skipped).push(id);
  }
  return { extended, skipped };
}

/** `branch.create` was sent: init -> pending, or a pending branch's re-send time. */
export async function markPending(store: Store, id: string, now: number): Promise<Branch | undefined> {
  const result = await mutate(store, id, now, (b) =>
    b.phase === 'init' || b.phase === 'pending' ? { phase: 'pending', sentAt: now } : undefined,
  );
  return result?.branch;
}

/** `branch.delete` was sent for a deleting branch. */
export async function markDropSent(store: Store, id: string, now: number): Promise<Branch | undefined> {
  const result = await mutate(store, id, now, (b) =>
    b.phase === 'deleting' ? { dropSentAt: now } : undefined,
  );
  return result?.branch;
}

/**
 * Copies the connector's report onto the branch. Stale reports are ignored: another generation,
 * a phase that would go backwards (ready/failed never return to pending), a `deleted` for a
 * branch nobody asked to delete, a progress percentage lower than the one shown.
 */
export async function applyStatus(
  store: Store,
  input: unknown,
  now: number,
): Promise<{ branch?: Branch; applied: boolean }> {
  const parsed = BranchStatusReportSchema.safeParse(input);
  if (!parsed.success) throw new ValidationError(`invalid branch.status report: ${parsed.error.message}`);
  const report: BranchStatusReport = parsed.data;
  const result = await mutate(
    store,
    report.id,
    now,
    (b) => transition(b, report, now),
    report.phase === 'ready' || report.phase === 'deleted' ? ['error'] : undefined,
  );
  return result ? { branch: result.branch, applied: result.changed } : { applied: false };
}

function transition(
  b: Branch,
  r: BranchStatusReport,
  now: number,
): (Attrs & { expiresAt?: number }) | undefined {
  if (r.generation !== undefined && r.generation !== b.generation) return undefined;
  const creating: BranchPhase[] = ['init', 'pending'];
  switch (r.phase) {
    case 'pending': {
      if (!creating.includes(b.phase)) return undefined;
      const before = b.progress?.percent ?? 0;
      if (b.phase === 'pending' && r.progress?.percent !== undefined && r.progress.percent < before)
        return undefined;
      return { phase: 'pending', reportAt: now, ...(r.progress ? { progress: r.progress } : {}) };
    }
    case 'ready':
      if (!creating.includes(b.phase)) return undefined;
      return { phase: 'ready', progress: r.progress ?? { message: 'ready', percent: 100 } };
    case 'failed':
      // A failed drop keeps the branch deleting (the drop is re-sent) but shows why.
      if (b.phase === 'deleting' && r.error) return { error: r.error };
      if (!creating.includes(b.phase)) return undefined;
      return {
        phase: 'failed',
        error: r.error ?? { code: 'branch_failed', message: 'the connector could not create the branch' },
        ...(r.progress ? { progress: r.progress } : {}),
      };
    case 'deleted':
      if (b.phase !== 'deleting') return undefined;
      return { phase: 'deleted', progress: { message: 'deleted' }, expiresAt: now + TOMBSTONE_MS };
  }
}

/** Branches whose TTL ran out and whose database still has to be dropped. */
export async function expiredBranches(store: Store, now: number): Promise<Branch[]> {
  const items = await store.listByKind(KINDS.branch);
  return items.map(fromItem).filter((b) => isExpired(b, now));
}

export function isExpired(b: Branch, now: number): boolean {
  return (['init', 'pending', 'ready', 'failed'] as BranchPhase[]).includes(b.phase) && b.expireAt <= now;
}

/** Expired -> deleting, conditionally: a same-id create cannot slip in between and lose its database. */
export async function markExpired(store: Store, id: string, now: number): Promise<Branch | undefined> {
  const result = await mutate(store, id, now, (b) =>
    isExpired(b, now) ? { phase: 'deleting', deleteReason: 'expired' } : undefined,
  );
  return result?.branch;
}
