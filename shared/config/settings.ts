import * as z from 'zod';

/** Router settings: durations in milliseconds. Every one has a default that needs no tuning. */
export const SettingsSchema = z
  .object({
    /** How long a lease lasts without renewal. A standby takes over at most this long after a holder dies. */
    leaseMs: z.number().int().min(1000).default(15_000),
    /** How often the holder renews; must be well below leaseMs. */
    renewMs: z.number().int().min(100).default(5_000),
    /** The largest clock difference between router instances (default: min(1 s, leaseMs/10)); see docs/lease.md. */
    maxClockSkewMs: z.number().int().min(0).optional(),
    /** A holder stops writing this long before its lease could end (default: min(1 s, leaseMs/10)). */
    leaseWriteMarginMs: z.number().int().min(0).optional(),
    /** A session whose client sent no heartbeat for this long expires. */
    sessionTimeoutMs: z.number().int().min(1000).default(120_000),
    /** A cluster whose connector sent nothing for this long counts as disconnected. */
    clusterTimeoutMs: z.number().int().min(1000).default(60_000),
    /** How long a stolen request waits for the developer before it goes to the upstream instead. */
    requestDeadlineMs: z.number().int().min(100).default(10_000),
    /** How long a session waits for every cluster's child to be ready. */
    childReadyTimeoutMs: z.number().int().min(100).default(30_000),
    /** How stale the splitter's view of active splits may be. */
    splitCacheMs: z.number().int().min(0).default(1_000),
    /**
     * After a split ends, how long a splitter that read the registration just before it was
     * removed may still be sending to the output queue (one splitter batch's worth): nothing is
     * deleted before `splitCacheMs` plus this has passed.
     */
    splitSendGraceMs: z.number().int().min(0).default(10_000),
    /** How long an ended session's output queue is kept to be drained before it is deleted. */
    drainTimeoutMs: z.number().int().min(0).default(60_000),
    /** How often the reconciler runs (local scheduler; on AWS an EventBridge schedule of at least 1 minute). */
    reconcileEveryMs: z.number().int().min(100).default(5_000),
  })
  .strict()
  .refine((s) => s.renewMs * 2 <= s.leaseMs, { message: 'renewMs must be at most half of leaseMs' });
export type Settings = z.infer<typeof SettingsSchema>;

export function parseSettings(input: unknown): Settings {
  return SettingsSchema.parse(input ?? {});
}
