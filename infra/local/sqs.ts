import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { clusterRegion, type Topology } from '../../shared/config/topology.ts';
import { LOCAL_CREDENTIALS } from './credentials.ts';

/** A queue the topology names, as created in the embedded SQS. */
export interface LocalQueue {
  clusterId: string;
  /** Logical name shared across clusters (`orders`), or the source queue name when unset. */
  name: string;
  role: 'source' | 'fallback';
  queueName: string;
  region: string;
  url: string;
  arn: string;
}

export interface LocalSqs {
  endpoint: string;
  /** An SQS client for one region (queues live in their cluster's region, as on AWS). */
  client(region: string): SQSClient;
  /** Creates every source and fallback queue of the topology; idempotent. */
  ensureQueues(topology: Topology): Promise<LocalQueue[]>;
  stop(): Promise<void>;
}

/**
 * fauxqs in this process. It keeps queues and messages in memory only, so every start creates
 * the configured queues again and messages do not survive a restart.
 */
export async function startSqs(): Promise<LocalSqs> {
  const server = await startFauxqs({ port: 0, logger: false });
  // fauxqs queue URLs (http://sqs.<region>.localhost:<port>/...) do not resolve here, so every
  // client needs this explicit endpoint.
  const endpoint = `http://127.0.0.1:${server.port}`;
  const clients = new Map<string, SQSClient>();
  const client = (region: string): SQSClient => {
    let c = clients.get(region);
    if (!c) {
      c = new SQSClient({ region, endpoint, credentials: LOCAL_CREDENTIALS });
      clients.set(region, c);
    }
    return c;
  };

  async function ensureQueues(topology: Topology): Promise<LocalQueue[]> {
    const queues: LocalQueue[] = [];
    for (const cluster of topology.clusters) {
      const region = clusterRegion(topology, cluster);
      for (const q of cluster.queues) {
        for (const role of ['source', 'fallback'] as const) {
          const queueName = q[role];
          const out = await client(region).send(
            new CreateQueueCommand({
              QueueName: queueName,
              ...(queueName.endsWith('.fifo') ? { Attributes: { FifoQueue: 'true' } } : {}),
            }),
          );
          queues.push({
            clusterId: cluster.id,
            name: q.name ?? q.source,
            role,
            queueName,
            region,
            url: out.QueueUrl!,
            arn: `arn:aws:sqs:${region}:000000000000:${queueName}`,
          });
        }
      }
    }
    return queues;
  }

  return {
    endpoint,
    client,
    ensureQueues,
    async stop() {
      for (const c of clients.values()) c.destroy();
      await server.stop();
    },
  };
}
