import { z } from 'zod';

/**
 * What the primary of `switchyard dev --replicas N` and its router workers tell each other.
 * The configuration goes to a worker in its environment (`SWITCHYARD_REPLICA`); the rest over
 * the cluster module's IPC channel.
 */
export const REPLICA_ENV = 'SWITCHYARD_REPLICA';

const QueueSchema = z.object({
  clusterId: z.string(),
  name: z.string(),
  role: z.enum(['source', 'fallback']),
  queueName: z.string(),
  region: z.string(),
  url: z.string(),
  arn: z.string(),
});

export const WorkerConfigSchema = z.object({
  /** 1..N, stable across restarts of the worker in that slot (logs). */
  index: z.number().int().positive(),
  /** The shared port (0 until the first worker listened: then they all share the one it got). */
  port: z.number().int().min(0).max(65535),
  /** Validated by the primary; parsed again by the worker for its types. */
  topology: z.unknown(),
  settings: z.unknown(),
  region: z.string(),
  tableName: z.string(),
  dynamodbEndpoint: z.string(),
  sqsEndpoint: z.string(),
  queues: z.array(QueueSchema),
  poller: z
    .object({
      batchSize: z.number().optional(),
      batchWindowMs: z.number().optional(),
      waitTimeSeconds: z.number().optional(),
    })
    .optional(),
  gateway: z
    .object({ idleTimeoutMs: z.number().optional(), maxConnectionMs: z.number().optional() })
    .optional(),
});
export type WorkerConfig = z.infer<typeof WorkerConfigSchema>;

/** Worker -> primary. */
export const WorkerMessageSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('ready'),
    pid: z.number().int(),
    port: z.number().int(),
    privatePort: z.number().int(),
  }),
  z.object({ type: z.literal('failed'), code: z.string(), message: z.string() }),
]);
export type WorkerMessage = z.infer<typeof WorkerMessageSchema>;

/** Primary -> worker: stop cleanly (close sockets with their $disconnect, give the lease up) and exit. */
export const STOP = { type: 'stop' } as const;
