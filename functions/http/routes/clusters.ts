import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { listClusters } from '../../../shared/clusters/registry.ts';
import { statefulReplica } from '../../../shared/clusters/replica.ts';
import { clusterRegion } from '../../../shared/config/topology.ts';
import { deps } from '../../lib/deps.ts';
import { queueUrl } from '../../lib/queue-url.ts';
import type { AppEnv } from '../types.ts';
import { errors } from './openapi.ts';

const ReplicaSchema = z
  .object({
    id: z.string(),
    connectedAt: z.string(),
    lastSeen: z.string(),
    services: z.array(z.string()),
    /** The replica answering the cluster's stateful operations (env, files, DNS, outgoing, branches). */
    stateful: z.boolean(),
  })
  .openapi('ClusterReplica');

const ClusterSchema = z
  .object({
    id: z.string(),
    roles: z.array(z.enum(['primary', 'workload', 'default'])),
    region: z.string(),
    queues: z.array(
      z.object({
        name: z.string().optional(),
        source: z.object({ name: z.string(), url: z.string() }),
        fallback: z.object({ name: z.string(), url: z.string() }),
        env: z.string().optional(),
      }),
    ),
    connected: z.boolean(),
    lastSeen: z.string().nullable(),
    services: z.array(z.string()),
    replicas: z.array(ReplicaSchema),
  })
  .openapi('Cluster');

const route = createRoute({
  method: 'get',
  path: '/v1/clusters',
  operationId: 'listClusters',
  summary:
    'The configured clusters, their roles and queues, and their connector replicas (a cluster is connected while one is)',
  security: [{ bearer: [] }],
  responses: {
    200: {
      description: 'clusters',
      content: { 'application/json': { schema: z.object({ clusters: z.array(ClusterSchema) }) } },
    },
    ...errors([]),
  },
});

export function registerClusterRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const { store, topology, now, settings } = deps();
    const states = new Map((await listClusters(store, topology)).map((s) => [s.id, s]));
    const t = now();
    return c.json(
      {
        clusters: topology.clusters.map((cl) => {
          const s = states.get(cl.id)!;
          const region = clusterRegion(topology, cl);
          // A replica that sent nothing for twice clusterTimeoutMs is as good as gone.
          const live = s.replicas.filter((r) => t - r.lastSeen < settings.clusterTimeoutMs * 2);
          const stateful = statefulReplica(live);
          return {
            id: cl.id,
            roles: cl.roles,
            region,
            queues: cl.queues.map((q) => ({
              ...(q.name ? { name: q.name } : {}),
              source: { name: q.source, url: queueUrl(region, q.source) },
              fallback: { name: q.fallback, url: queueUrl(region, q.fallback) },
              ...(q.env ? { env: q.env } : {}),
            })),
            connected: live.length > 0,
            lastSeen: s.lastSeen ? new Date(s.lastSeen).toISOString() : null,
            services: s.services ?? [],
            replicas: live.map((r) => ({
              id: r.replicaId,
              connectedAt: new Date(r.connectedAt).toISOString(),
              lastSeen: new Date(r.lastSeen).toISOString(),
              services: r.services ?? [],
              stateful: r === stateful,
            })),
          };
        }),
      },
      200,
    );
  });
}
