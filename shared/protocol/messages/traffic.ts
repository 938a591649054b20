import * as z from 'zod';
import {
  Base64Schema,
  ClientIdSchema,
  ClusterIdSchema,
  ErrorCodeSchema,
  ErrorTextSchema,
  HeadersSchema,
  HttpMethodSchema,
  HttpPathSchema,
  NamespacedIdSchema,
  ServiceSchema,
} from '../fields.ts';
import { HttpFilterSchema } from '../filter.ts';
import { envelope } from './envelope.ts';

/**
 * Traffic: subscriptions go to EVERY workload cluster; what they intercept comes back as
 * `request`s merged into the session's one stream. `requestId`s are assigned by clusters and
 * reach the client as `<clusterId>:<id>` (see routing/namespace.ts).
 */

export const TrafficModeSchema = z.enum(['mirror', 'steal']);
export type TrafficMode = z.infer<typeof TrafficModeSchema>;

export const SubscribeSchema = z.looseObject({
  ...envelope,
  type: z.literal('subscribe'),
  reqId: ClientIdSchema,
  subId: ClientIdSchema,
  service: ServiceSchema,
  mode: TrafficModeSchema,
  filter: HttpFilterSchema,
});

export const UnsubscribeSchema = z.looseObject({
  ...envelope,
  type: z.literal('unsubscribe'),
  /** Plain: every workload cluster drops it. `<clusterId>:<subId>`: only that cluster does. */
  subId: NamespacedIdSchema,
  reqId: ClientIdSchema.optional(),
});

export const SubscribeFailureSchema = z.looseObject({
  cluster: ClusterIdSchema,
  code: ErrorCodeSchema,
  message: ErrorTextSchema,
});

/**
 * From one cluster to the router: `{reqId, subId}`. From the router to the client, once every
 * workload cluster answered (or the deadline passed): also `clusters` (that hold it) and `failed`.
 */
export const SubscribedSchema = z.looseObject({
  ...envelope,
  type: z.literal('subscribed'),
  reqId: ClientIdSchema,
  subId: ClientIdSchema,
  clusters: z.array(ClusterIdSchema).optional(),
  failed: z.array(SubscribeFailureSchema).optional(),
});

/**
 * `stream: true` says the body continues in `data` messages until `close`. `upgrade: true` (with
 * `stream`) marks an `Upgrade` request: a `101` answer opens a tunnel whose bytes go as `data`.
 */
export const RequestSchema = z.looseObject({
  ...envelope,
  type: z.literal('request'),
  requestId: NamespacedIdSchema,
  subId: ClientIdSchema,
  mode: TrafficModeSchema,
  method: HttpMethodSchema,
  path: HttpPathSchema,
  headers: HeadersSchema,
  body: Base64Schema.optional(),
  stream: z.boolean().optional(),
  upgrade: z.boolean().optional(),
});

/**
 * The developer's answer to a stolen request (a mirrored one is never answered). `trailers`
 * follow a whole body (a gRPC answer's `grpc-status`); a streamed body's come on its `close`.
 */
export const ResponseSchema = z.looseObject({
  ...envelope,
  type: z.literal('response'),
  requestId: NamespacedIdSchema,
  status: z.number().int().min(100).max(599),
  headers: HeadersSchema,
  body: Base64Schema.optional(),
  stream: z.boolean().optional(),
  trailers: HeadersSchema.optional(),
});

/**
 * The position of a `data` or clean `close` in its stream (the head, a `request` or `response`
 * with `stream: true`, is 0): the receiver puts frames the router reordered back in order.
 */
const PartSchema = z
  .number()
  .int()
  .min(1)
  .max(2 ** 31 - 1);

export const DataSchema = z.looseObject({
  ...envelope,
  type: z.literal('data'),
  requestId: NamespacedIdSchema,
  data: Base64Schema,
  part: PartSchema.optional(),
});

export const CloseSchema = z.looseObject({
  ...envelope,
  type: z.literal('close'),
  requestId: NamespacedIdSchema,
  reason: z.string().max(1024).optional(),
  /** On a clean end only: a `close` with a `reason` (an abort) is never held behind the body. */
  part: PartSchema.optional(),
  /** The end of a streamed answer's body: what follows it (a gRPC answer's status). */
  trailers: HeadersSchema.optional(),
});
