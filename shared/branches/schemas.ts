import * as z from 'zod';

/**
 * Database branches: the request a developer sends, and the two messages the router and the
 * default cluster's connector exchange (`branch.create` / `branch.delete` carry a spec,
 * `branch.status` carries a report). One schema each, so types and validation agree.
 */

export const BRANCH_ID_PATTERN = /^[a-z0-9-]{1,40}$/;
export const MIN_TTL_SECS = 60;
export const MAX_TTL_SECS = 7 * 24 * 3600;
/** Long enough for a manual `branch create` followed by a session; sessions extend it while in use. */
export const DEFAULT_TTL_SECS = 3600;

export const BranchIdSchema = z
  .string()
  .regex(BRANCH_ID_PATTERN, 'a branch id: 1 to 40 lowercase letters, digits or "-"');

/** The logical database name, as declared in the default cluster's connector config. */
export const LogicalDatabaseSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,63}$/, 'a logical database name: 1 to 63 letters, digits, "_" or "-"');

/** `schema`: tables, views and sequences, no rows. `all`: schema and rows. */
export const BranchModeSchema = z.enum(['schema', 'all']);
export type BranchMode = z.infer<typeof BranchModeSchema>;

export const CreateBranchSchema = z
  .object({
    database: LogicalDatabaseSchema,
    id: BranchIdSchema.optional(),
    ttlSecs: z.number().int().min(MIN_TTL_SECS).max(MAX_TTL_SECS).optional(),
    mode: BranchModeSchema.default('all'),
  })
  .strict();
export type CreateBranchRequest = z.input<typeof CreateBranchSchema>;

/**
 * init: written, nothing sent yet. pending: the spec went to the default cluster (and progress
 * may flow). ready / failed: the connector's verdict. deleting: a drop is due (asked for, or the
 * TTL ran out). deleted: the connector confirmed the drop; kept briefly as a tombstone.
 */
export const BRANCH_PHASES = ['init', 'pending', 'ready', 'failed', 'deleting', 'deleted'] as const;
export const BranchPhaseSchema = z.enum(BRANCH_PHASES);
export type BranchPhase = z.infer<typeof BranchPhaseSchema>;

export const BranchProgressSchema = z
  .object({
    message: z.string().max(500).optional(),
    percent: z.number().min(0).max(100).optional(),
    tablesDone: z.number().int().min(0).optional(),
    tablesTotal: z.number().int().min(0).optional(),
    rowsCopied: z.number().int().min(0).optional(),
  })
  .strict();
export type BranchProgress = z.infer<typeof BranchProgressSchema>;

export const BranchErrorSchema = z
  .object({
    code: z.string().min(1).max(100),
    message: z.string().min(1).max(2000),
  })
  .strict();
export type BranchError = z.infer<typeof BranchErrorSchema>;

/** The database name a branch gets on the server (see names.ts). */
export const BranchDatabaseNameSchema = z
  .string()
  .regex(
    /^sy_branch_[a-z0-9_]{1,53}$/,
    'a branch database name (sy_branch_ + lowercase letters, digits, "_")',
  );

/** `branch.create` payload: what the connector must make exist. Idempotent on the connector. */
export const BranchSpecSchema = z
  .object({
    id: BranchIdSchema,
    database: LogicalDatabaseSchema,
    name: BranchDatabaseNameSchema,
    mode: BranchModeSchema,
    /**
     * Identifies one incarnation of the branch id (its creation time). A branch re-created under
     * the same id after it failed or expired gets a new generation, so the connector rebuilds the
     * database instead of reporting the old copy ready, and stale reports are recognised.
     */
    generation: z.string().min(1).max(64),
  })
  .strict();
export type BranchSpec = z.infer<typeof BranchSpecSchema>;

/** `branch.delete` payload. The logical database tells the connector which server holds it. */
export const BranchDropSpecSchema = z
  .object({
    id: BranchIdSchema,
    database: LogicalDatabaseSchema,
    name: BranchDatabaseNameSchema,
    generation: z.string().min(1).max(64).optional(),
  })
  .strict();
export type BranchDropSpec = z.infer<typeof BranchDropSpecSchema>;

/** `branch.status` payload: the connector's view, copied onto the branch by `applyStatus`. */
export const BranchStatusReportSchema = z
  .object({
    id: BranchIdSchema,
    phase: z.enum(['pending', 'ready', 'failed', 'deleted']),
    generation: z.string().min(1).max(64).optional(),
    progress: BranchProgressSchema.optional(),
    error: BranchErrorSchema.optional(),
  })
  .strict();
export type BranchStatusReport = z.infer<typeof BranchStatusReportSchema>;

/** Message type -> payload schema, for the protocol layer that carries them. */
export const BRANCH_MESSAGES = {
  'branch.create': BranchSpecSchema,
  'branch.delete': BranchDropSpecSchema,
  'branch.status': BranchStatusReportSchema,
} as const;
