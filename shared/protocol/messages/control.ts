import * as z from 'zod';
import {
  ClientIdSchema,
  ClusterIdSchema,
  ErrorCodeSchema,
  ErrorTextSchema,
  NamespacedIdSchema,
  SeqSchema,
  ServiceSchema,
  SessionIdSchema,
} from '../fields.ts';
import { HttpFilterSchema } from '../filter.ts';
import { MAX_CHILD_SPEC_BYTES } from '../limits.ts';
import { envelope } from './envelope.ts';
import { TrafficModeSchema } from './traffic.ts';

/**
 * A connector's first message on every (re)connection: what it fronts. The router answers by
 * re-sending the children the cluster missed. The cluster itself is known from its token;
 * a `cluster` field here is informational.
 */
export const HelloSchema = z.looseObject({
  ...envelope,
  type: z.literal('hello'),
  services: z.array(z.string().min(1).max(253)).max(200).optional(),
  /** The connector's software version, for logs. */
  version: z.string().max(64).optional(),
});

/**
 * A connector replica leaving on purpose (a rollout, a scale-down): the router treats its
 * connection as closed cleanly at once, without waiting for the socket's end or for API
 * Gateway's best-effort `$disconnect`, so nothing new is sent to a replica that is going away.
 */
export const GoodbyeSchema = z.looseObject({
  ...envelope,
  type: z.literal('goodbye'),
  /** Why it leaves, for logs (`shutdown`). */
  reason: z.string().max(200).optional(),
});

/** Heartbeat. From the client it reaches every cluster of the session; each answers a `pong`. */
export const PingSchema = z.looseObject({
  ...envelope,
  type: z.literal('ping'),
  nonce: z.string().max(128).optional(),
});

/** Answer to a `ping`; on its way to the client the router tags it with the answering `cluster`. */
export const PongSchema = z.looseObject({
  ...envelope,
  type: z.literal('pong'),
  nonce: z.string().max(128).optional(),
});

/** A failure in a status: text, or the `{code, message}` of the error that caused it. */
export const StatusErrorSchema = z.union([
  ErrorTextSchema,
  z.looseObject({ code: z.string().min(1).max(64), message: ErrorTextSchema }),
]);

const StatusStateSchema = z.string().regex(/^[a-z][a-z_]{0,31}$/, 'a lowercase state name such as "ready"');

/**
 * What a cluster needs to serve a child session. Validated loosely (later features add keys)
 * but bounded: it is stored as one DynamoDB item.
 */
export const ChildSpecSchema = z
  .looseObject({
    service: ServiceSchema.optional(),
    /** The session's subscriptions, so a reconnecting connector restores them. */
    subscriptions: z
      .array(
        z.looseObject({
          subId: ClientIdSchema,
          service: ServiceSchema,
          mode: TrafficModeSchema,
          filter: HttpFilterSchema,
        }),
      )
      .max(256)
      .optional(),
    /** Output-queue map: source queue name -> the session's output queue URL. */
    outputQueues: z.record(z.string().min(1).max(80), z.url()).optional(),
    /** Database branches (logical database -> branch id today); their feature owns the shape. */
    branches: z.unknown().optional(),
  })
  .refine((spec) => Buffer.byteLength(JSON.stringify(spec), 'utf8') <= MAX_CHILD_SPEC_BYTES, {
    message: `the spec is larger than ${MAX_CHILD_SPEC_BYTES} bytes of JSON`,
  });

export const ChildCreateSchema = z.looseObject({
  ...envelope,
  type: z.literal('child.create'),
  sessionId: SessionIdSchema,
  childId: SessionIdSchema,
  spec: ChildSpecSchema,
});

export const ChildReadySchema = z.looseObject({
  ...envelope,
  type: z.literal('child.ready'),
  sessionId: SessionIdSchema,
  childId: SessionIdSchema,
});

export const ChildFailedSchema = z.looseObject({
  ...envelope,
  type: z.literal('child.failed'),
  sessionId: SessionIdSchema,
  childId: SessionIdSchema,
  code: ErrorCodeSchema,
  message: ErrorTextSchema,
});

/** The session ended: the cluster drops its child, its subscriptions and tunnels (idempotent). */
export const ChildCloseSchema = z.looseObject({
  ...envelope,
  type: z.literal('child.close'),
  sessionId: SessionIdSchema,
  childId: SessionIdSchema,
});

const BranchIdFieldSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'a branch id');

/**
 * Database branching, between the router and the DEFAULT cluster's connector (the router's sync
 * controller). The payload fields are the branch feature's (shared/branches/schemas.ts), which
 * validates them strictly; here they are only bounded.
 */
export const BranchCreateSchema = z.looseObject({
  ...envelope,
  type: z.literal('branch.create'),
  id: BranchIdFieldSchema,
  database: z.string().min(1).max(63),
  name: z.string().min(1).max(63),
});

export const BranchDeleteSchema = z.looseObject({
  ...envelope,
  type: z.literal('branch.delete'),
  id: BranchIdFieldSchema,
  database: z.string().min(1).max(63),
  name: z.string().min(1).max(63),
});

export const BranchStatusSchema = z.looseObject({
  ...envelope,
  type: z.literal('branch.status'),
  id: BranchIdFieldSchema,
  phase: z.enum(['pending', 'ready', 'failed', 'deleted']),
});

export const SessionStatusSchema = z.looseObject({
  ...envelope,
  type: z.literal('session.status'),
  sessionId: SessionIdSchema,
  state: StatusStateSchema,
  clusters: z.record(
    ClusterIdSchema,
    z.looseObject({ state: StatusStateSchema, error: StatusErrorSchema.optional() }),
  ),
  error: StatusErrorSchema.optional(),
});

/**
 * A failure, answering whatever it names: a stateful request (`reqId` + `seq`), a subscription
 * (`subId`, per cluster), a stolen request (`requestId`) or a tunnel (`connId`). Without any of
 * them it is about the connection itself.
 */
export const ErrorMessageSchema = z.looseObject({
  ...envelope,
  type: z.literal('error'),
  code: ErrorCodeSchema,
  message: ErrorTextSchema,
  reqId: ClientIdSchema.optional(),
  seq: SeqSchema.optional(),
  subId: NamespacedIdSchema.optional(),
  requestId: NamespacedIdSchema.optional(),
  connId: ClientIdSchema.optional(),
});
