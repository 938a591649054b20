import * as z from 'zod';
import {
  ClientIdSchema,
  ClusterIdSchema,
  NamespacedIdSchema,
  SeqSchema,
  SessionIdSchema,
} from '../fields.ts';
import { CARRIED_TYPES } from '../types.ts';

/**
 * The routing head: the type of a message and the few fields the router decides and rewrites
 * on. A chunk carries the head of the message it is part of, because the router is stateless
 * and sees each chunk alone: it routes and rewrites the head without reassembling anything.
 * After reassembly the head wins over the same fields inside the message (see chunking.ts),
 * so the router's rewrite (namespace, sessionId, cluster tag) holds for chunked messages too.
 */
export const HEAD_KEYS = ['sessionId', 'reqId', 'seq', 'subId', 'requestId', 'connId', 'cluster'] as const;
export type HeadKey = (typeof HEAD_KEYS)[number];

export const RoutingHeadSchema = z.strictObject({
  type: z.enum(CARRIED_TYPES),
  sessionId: SessionIdSchema.optional(),
  reqId: ClientIdSchema.optional(),
  seq: SeqSchema.optional(),
  subId: NamespacedIdSchema.optional(),
  requestId: NamespacedIdSchema.optional(),
  connId: ClientIdSchema.optional(),
  cluster: ClusterIdSchema.optional(),
});
export type RoutingHead = z.infer<typeof RoutingHeadSchema>;
