import * as z from 'zod';
import { isSwitchyardError } from '../errors/errors.ts';
import { compileFilter, MAX_FILTER_ATTRIBUTES } from './filter.ts';

/**
 * Request schemas for splits, for the API layer (`POST /v1/sessions` carries `splits`).
 * The filter is compiled during validation, so an invalid or catastrophic regex fails the request
 * with the compiler's message; whether the queue exists is checked at registration against the
 * topology.
 */
export const SPLIT_MODES = ['steal', 'mirror'] as const;
export const SplitModeSchema = z.enum(SPLIT_MODES);
export type SplitMode = z.infer<typeof SplitModeSchema>;

/** SQS attribute names: letters, digits, `_`, `-`, `.`, at most 256 characters. */
const attributeName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,256}$/, 'an SQS message attribute name: letters, digits, "_", "-" and "."');

export const SplitFilterSchema = z
  .record(attributeName, z.string())
  .superRefine((filter, ctx) => {
    try {
      compileFilter(filter);
    } catch (err) {
      if (!isSwitchyardError(err)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message, params: { code: err.code } });
    }
  })
  .describe(
    `Message attribute name -> RE2 regular expression (unanchored search; use ^ and $ to anchor). Every attribute must be present with a String or Number value that matches; Binary attributes never match. 1 to ${MAX_FILTER_ATTRIBUTES} attributes.`,
  );

export const SplitRequestSchema = z
  .object({
    /** Logical queue name shared by the clusters (`orders`). */
    queue: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'a logical queue name from the topology, such as "orders"'),
    /** steal: matches go only to the session; mirror: to the session and to the cluster's consumer. */
    mode: SplitModeSchema,
    filter: SplitFilterSchema,
  })
  .strict();
export type SplitRequest = z.infer<typeof SplitRequestSchema>;

/** A session's splits: at most one per logical queue. */
export const SplitsRequestSchema = z
  .array(SplitRequestSchema)
  .max(20, 'at most 20 splits per session')
  .superRefine((splits, ctx) => {
    const seen = new Set<string>();
    splits.forEach((s, i) => {
      if (seen.has(s.queue)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'queue'],
          message: `queue '${s.queue}' is split twice: give one split per queue (all its attributes in one filter)`,
        });
      }
      seen.add(s.queue);
    });
  });
