import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { type FauxqsServer, startFauxqs } from 'fauxqs';
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
  port: number;
  /** An SQS client for one region (queues live in their cluster's region, as on AWS). */
  client(region: string): SQSClient;
  /** Creates every source and fallback queue of the topology; idempotent. */
  ensureQueues(topology: Topology): Promise<LocalQueue[]>;
  stop(): Promise<void>;
}

/**
 * fauxqs in this process. It keeps queues and messages in memory only, so every start creates
 * the configured queues again and messages do not survive a restart.
 *
 * `preferredPort` (the port of the previous run, from local.json) keeps queue URLs the same
 * across restarts: fauxqs only answers for a queue URL with its own port, and URLs are stored
 * (a session's output queues) and held by consumers. A taken port falls back to a free one.
 */
export async function startSqs(opts: { preferredPort?: number | undefined } = {}): Promise<LocalSqs> {
  const server = await startFauxqsOn(opts.preferredPort);
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
    port: server.port,
    client,
    ensureQueues,
    async stop() {
      for (const c of clients.values()) c.destroy();
      await server.stop();
    },
  };
}

async function startFauxqsOn(preferredPort: number | undefined): Promise<FauxqsServer> {
  if (preferredPort) {
    try {
      return await startFauxqs({ port: preferredPort, logger: false });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    }
  }
  return startFauxqs({ port: 0, logger: false });
}
