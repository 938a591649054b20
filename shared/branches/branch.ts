import { KINDS, keys } from '../store/keys.ts';
import type { NewItem, StoredItem } from '../store/store.ts';
import type { BranchError, BranchMode, BranchPhase, BranchProgress } from './schemas.ts';

/** A branch as the core works with it. Times are epoch milliseconds. */
export interface Branch {
  id: string;
  /** Logical database name, as declared in the default cluster's connector config. */
  database: string;
  /** The database created on the server (`sy_branch_<id>`). */
  name: string;
  mode: BranchMode;
  /** One incarnation of this id; see BranchSpecSchema. */
  generation: string;
  phase: BranchPhase;
  /** Developer principal id: only they see and delete the branch. */
  owner: string;
  expireAt: number;
  createdAt: number;
  updatedAt: number;
  version: number;
  progress?: BranchProgress;
  error?: BranchError;
  /** When `branch.create` was last sent (throttles re-sends of pending branches). */
  sentAt?: number;
  /** When the connector last reported on it (a progressing create is not re-sent). */
  reportAt?: number;
  /** When `branch.delete` was last sent. */
  dropSentAt?: number;
  deleteReason?: 'requested' | 'expired';
}

/** What the API returns: no storage keys, no bookkeeping, ISO times. */
export interface BranchView {
  id: string;
  database: string;
  name: string;
  mode: BranchMode;
  phase: BranchPhase;
  owner: string;
  expireTime: string;
  createdAt: string;
  updatedAt: string;
  version: number;
  progress?: BranchProgress;
  error?: BranchError;
}

/** Phases in which the branch exists or is on its way, i.e. what a same-id create reuses. */
export const LIVE_PHASES: readonly BranchPhase[] = ['init', 'pending', 'ready'];

export function isLive(b: Branch, now: number): boolean {
  return LIVE_PHASES.includes(b.phase) && b.expireAt > now;
}

export function fromItem(item: StoredItem): Branch {
  const { pk: _pk, sk: _sk, kind: _kind, expiresAt: _expiresAt, ...rest } = item;
  return rest as unknown as Branch;
}

export function toItem(b: Branch, extra: { expiresAt?: number } = {}): NewItem {
  return { ...keys.branch(b.id), kind: KINDS.branch, ...b, ...extra };
}

export function toView(b: Branch): BranchView {
  return {
    id: b.id,
    database: b.database,
    name: b.name,
    mode: b.mode,
    phase: b.phase,
    owner: b.owner,
    expireTime: new Date(b.expireAt).toISOString(),
    createdAt: new Date(b.createdAt).toISOString(),
    updatedAt: new Date(b.updatedAt).toISOString(),
    version: b.version,
    ...(b.progress ? { progress: b.progress } : {}),
    ...(b.error ? { error: b.error } : {}),
  };
}
