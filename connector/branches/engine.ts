import { isBranchDatabaseName } from '../../shared/branches/names.ts';
import type { BranchProgress, BranchSpec } from '../../shared/branches/schemas.ts';
import { BranchNameError } from './errors.ts';
import type { DatabaseType } from './url.ts';

/** The database a branch is copied from. */
export interface BranchSource {
  /** Logical name, for messages. */
  label: string;
  /** Connection URL of the source database; branches are made on the same server. */
  url: string;
}

/**
 * What is on the server under a branch name. `incomplete` is a database a create left behind
 * when it was interrupted (no completion marker): it is dropped and made again.
 */
export type BranchState =
  | { state: 'absent' }
  | { state: 'incomplete' }
  | { state: 'complete'; id: string; generation?: string };

export interface CreateOutcome {
  /** `existing`: a complete branch of this generation was already there. */
  result: 'created' | 'existing';
  tables: number;
  rows: number;
  ms: number;
}

export type ProgressFn = (progress: BranchProgress) => void;

export interface BranchEngine {
  readonly type: DatabaseType;
  /**
   * Makes `spec.name` a copy of the source. Idempotent: a complete branch of the same generation
   * is reported as is; an incomplete one, or one of another generation, is dropped and made again.
   */
  create(
    spec: BranchSpec,
    source: BranchSource,
    onProgress: ProgressFn,
    signal?: AbortSignal,
  ): Promise<CreateOutcome>;
  /** Drops the branch database on the source's server. Idempotent: `absent` when it was not there. */
  drop(source: BranchSource, name: string): Promise<'dropped' | 'absent'>;
  exists(source: BranchSource, name: string): Promise<BranchState>;
  /** The URL an application uses to reach the branch: same server and credentials, other database. */
  branchUrl(sourceUrl: string, name: string): string;
}

/**
 * The completion marker. Written only once everything is copied, so its absence means an
 * interrupted create; it also records the generation, so a re-created branch id is rebuilt.
 */
export interface BranchMarker {
  switchyard: 'branch';
  id: string;
  generation?: string;
  source: string;
  state: 'creating' | 'complete';
  at: string;
}

export function parseMarker(text: string | null | undefined): BranchMarker | undefined {
  if (!text) return undefined;
  try {
    const m = JSON.parse(text) as Partial<BranchMarker>;
    return m && m.switchyard === 'branch' && typeof m.id === 'string' ? (m as BranchMarker) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Engines only create or drop databases named like a branch, and never the source itself: a
 * forged or buggy message cannot make the connector drop the application's database.
 */
export function assertBranchName(name: string, sourceDatabase?: string): void {
  if (!isBranchDatabaseName(name)) {
    throw new BranchNameError(
      `'${name}' is not a branch database name (sy_branch_ followed by lowercase letters, digits or "_")`,
    );
  }
  if (sourceDatabase !== undefined && name === sourceDatabase) {
    throw new BranchNameError(`the branch name '${name}' is the source database's own name`);
  }
}

export function throwIfAborted(signal: AbortSignal | undefined, onAbort: () => Error): void {
  if (signal?.aborted) throw onAbort();
}
