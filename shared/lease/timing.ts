import * as z from 'zod';
import type { Settings } from '../config/settings.ts';
import { ValidationError } from '../errors/errors.ts';

/**
 * The durations that make the lease safe. All in milliseconds.
 *
 * - `leaseMs`: how long a holding lasts after the request that started or renewed it was sent.
 * - `renewMs`: how often the holder renews.
 * - `maxClockSkewMs`: the largest difference between any two contenders' clocks. The holder
 *   stops believing it holds the lease this long before the stored expiry, so that a contender
 *   whose clock runs ahead cannot take over while the holder still acts.
 * - `writeMarginMs`: the holder stops *writing* this much earlier still, so a write that passed
 *   the check has this long to land before anyone else can hold the lease.
 */
export const LeaseTimingSchema = z
  .object({
    leaseMs: z.number().int().min(1000),
    renewMs: z.number().int().min(100),
    maxClockSkewMs: z.number().int().min(0),
    writeMarginMs: z.number().int().min(0),
  })
  .strict()
  .refine((t) => t.renewMs < t.leaseMs - t.maxClockSkewMs - t.writeMarginMs, {
    message:
      'renewMs must be below leaseMs - maxClockSkewMs - writeMarginMs, or the holder stops writing before it renews',
  });
export type LeaseTiming = z.infer<typeof LeaseTimingSchema>;

/**
 * Skew and margin scale with short leases (tests, fast local failover) and stop at 1 s: NTP-synced
 * hosts (Amazon Time Sync on Lambda) stay within milliseconds of each other, and one second also
 * covers a DynamoDB write's usual flight time many times over.
 */
export const defaultSkewMs = (leaseMs: number): number => Math.min(1000, Math.floor(leaseMs / 10));
export const defaultWriteMarginMs = (leaseMs: number): number => Math.min(1000, Math.floor(leaseMs / 10));

/** Settings may carry the two lease-safety durations once the settings schema has them. */
type LeaseSettings = Pick<Settings, 'leaseMs' | 'renewMs'> & {
  maxClockSkewMs?: number;
  leaseWriteMarginMs?: number;
};

/** The lease timing from the router settings, with optional overrides (tests). */
export function leaseTiming(settings: LeaseSettings, overrides: Partial<LeaseTiming> = {}): LeaseTiming {
  const leaseMs = overrides.leaseMs ?? settings.leaseMs;
  const parsed = LeaseTimingSchema.safeParse({
    leaseMs,
    renewMs: overrides.renewMs ?? settings.renewMs,
    maxClockSkewMs: overrides.maxClockSkewMs ?? settings.maxClockSkewMs ?? defaultSkewMs(leaseMs),
    writeMarginMs: overrides.writeMarginMs ?? settings.leaseWriteMarginMs ?? defaultWriteMarginMs(leaseMs),
  });
  if (!parsed.success) {
    throw new ValidationError(
      `lease timing is unsafe: ${parsed.error.issues.map((i) => i.message).join('; ')}`,
      { timing: { leaseMs, ...overrides } },
    );
  }
  return parsed.data;
}
