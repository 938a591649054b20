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

/** A message whose delivery delay has not run out yet (ReceiveMessage cannot return it). */
export interface DelayedMessage {
  body: string;
  /** As SQS carries them; a binary value in base64. */
  messageAttributes: Record<string, { DataType: string; StringValue?: string; BinaryValue?: string }>;
  messageGroupId?: string;
  messageDeduplicationId?: string;
  /** When it becomes visible (epoch ms). */
  delayUntil: number;
}

/** What the SQS API cannot reach of a queue: the messages in flight and the delayed ones. */
export interface HeldMessages {
  /** Messages that ReceiveMessage can return now. */
  ready: number;
  /** Receipt handles of the messages in flight (received by someone, not deleted yet). */
  inFlight: string[];
  /** Delayed messages, in the order they were sent (per group on a FIFO queue). */
  delayed: DelayedMessage[];
}

export interface LocalSqs {
  endpoint: string;
  port: number;
  /** An SQS client for one region (queues live in their cluster's region, as on AWS). */
  client(region: string): SQSClient;
  /** Creates every source and fallback queue of the topology; idempotent. */
  ensureQueues(topology: Topology): Promise<LocalQueue[]>;
  /**
   * Looks into a queue without changing it (fauxqs's inspection): undefined when no queue has
   * that URL, or when another region holds a queue of the same name (the inspection finds queues
   * by name only).
   */
  held(queueUrl: string): HeldMessages | undefined;
  stop(): Promise<void>;
}

/**
 * fauxqs in this process. It keeps queues and messages in memory only, so every start creates
 * the configured queues again; the runtime saves the messages at a clean stop and sends them
 * back at the next start (sqs-snapshot.ts).
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

  function held(queueUrl: string): HeldMessages | undefined {
    const name = queueUrl.slice(queueUrl.lastIndexOf('/') + 1);
    const found = server.inspectQueue(name);
    if (!found || found.url !== queueUrl) return undefined;
    const { ready, inflight, delayed } = found.messages;
    return {
      ready: ready.length,
      inFlight: inflight.map((m) => m.receiptHandle),
      delayed: delayed.map((m) => ({
        body: m.body,
        messageAttributes: m.messageAttributes,
        ...(m.messageGroupId === undefined ? {} : { messageGroupId: m.messageGroupId }),
        ...(m.messageDeduplicationId === undefined
          ? {}
          : { messageDeduplicationId: m.messageDeduplicationId }),
        delayUntil: m.delayUntil ?? Date.now(),
      })),
    };
  }

  return {
    endpoint,
    port: server.port,
    client,
    ensureQueues,
    held,
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
