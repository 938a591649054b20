import * as z from 'zod';
import { Base64Schema, NamespacedIdSchema } from '../fields.ts';
import { PROTOCOL_VERSION } from '../version.ts';

/** The router's opaque key of a developer: base64url of a hash, never the developer's id. */
export const OwnerKeySchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

import { RoutingHeadSchema } from './head.ts';

/** Most chunks one message may be cut into (8 MiB at ~31 KiB per chunk is ~360). */
export const MAX_CHUNKS = 4096;

/**
 * One piece of a message too large for a frame: `data` is base64 of a slice of the message's
 * UTF-8 JSON bytes. `seq` counts from 0 to `total - 1`.
 */
export const ChunkSchema = z
  .looseObject({
    v: z.literal(PROTOCOL_VERSION),
    type: z.literal('chunk'),
    msgId: NamespacedIdSchema,
    seq: z.number().int().min(0),
    total: z.number().int().min(1).max(MAX_CHUNKS),
    data: Base64Schema,
    head: RoutingHeadSchema,
    /**
     * Set by the router on a developer's chunks toward a cluster: an opaque key of the
     * developer who owns the sending session (never the developer's id). The receiver shares its
     * reassembly bounds out by it, so that one developer's many sessions count as one sender.
     */
    owner: OwnerKeySchema.optional(),
  })
  .refine((c) => c.seq < c.total, { message: 'seq must be below total', path: ['seq'] });
