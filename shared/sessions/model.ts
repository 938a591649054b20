import * as z from 'zod';
import { SplitsRequestSchema } from '../split/schema.ts';

/**
 * A session is one parent (`SESSION#id / SESSION`) and one child per cluster it spans
 * (`SESSION#id / CHILD#<cluster>`): one item per child keeps every item far below DynamoDB's
 * 400 KB limit however many clusters there are, and lets each cluster's answer be its own
 * conditional update.
 */
export const SESSION_STATES = ['pending', 'ready', 'failed', 'closed'] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/**
 * pending: child.create sent (or to be sent); ready: the connector serves it; failed: the
 * cluster refused or was unreachable; disconnected: the cluster dropped mid-session and the
 * child is re-created when it returns; closing: close to be sent; closed.
 */
export const CHILD_STATES = ['pending', 'ready', 'failed', 'disconnected', 'closing', 'closed'] as const;
export type ChildState = (typeof CHILD_STATES)[number];

const serviceName = z
  .string()
  .regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'a service name (lowercase letters, digits and "-")');

export const CreateSessionSchema = z
  .object({
    /** The service to intercept or read env/files of. */
    service: serviceName.optional(),
    /** SQS splits: queue, mode and attribute filter (regexes checked at the edge). */
    splits: SplitsRequestSchema.optional(),
    /** Database branches the session uses: logical database -> branch id. */
    branches: z.record(z.string().min(1).max(63), z.string().min(1).max(40)).optional(),
    /** Create the session even when some workload clusters are unavailable. */
    allowPartial: z.boolean().default(false),
    /** Free-form label shown in listings (e.g. the command that created it). */
    label: z.string().max(200).optional(),
  })
  .strict();
export type CreateSessionRequest = z.infer<typeof CreateSessionSchema>;

export const SubscriptionSchema = z.object({
  subId: z.string(),
  service: z.string(),
  mode: z.enum(['mirror', 'steal']),
  filter: z.record(z.string(), z.unknown()),
});
export type Subscription = z.infer<typeof SubscriptionSchema>;

export interface ChildView {
  childId: string;
  clusterId: string;
  roles: ('workload' | 'default')[];
  /** What the child is: its item's state, or `ready` for a pending child marked ready on its parent. */
  state: ChildState;
  /**
   * The child item's own state when it differs from `state` (a first `ready` recorded on the
   * parent, see `markChildReady`): what a conditional write on the child item must expect.
   */
  stored?: ChildState;
  error?: { code: string; message: string };
  updatedAt: number;
}

export interface SessionView {
  id: string;
  owner: string;
  state: SessionState;
  service?: string;
  label?: string;
  allowPartial: boolean;
  createdAt: number;
  updatedAt: number;
  heartbeatAt: number;
  expiresAt: number;
  clientConnectionId?: string;
  subscriptions: Subscription[];
  splits?: unknown[];
  outputQueues?: Record<string, string>;
  branches?: Record<string, string>;
  error?: { code: string; message: string };
  closedReason?: string;
  clusters: Record<string, ChildView>;
  version: number;
}

export const childId = (sessionId: string, clusterId: string) => `mc-${sessionId}-${clusterId}`;
