import { type ClusterConfig, clusterRegion, type QueueConfig, type Topology } from '../config/topology.ts';
import { SplitQueueConfigError, UnknownSplitQueueError, UnknownSplitSourceError } from './errors.ts';

/** Where the topology's queues are, as splitting needs them. */

export const isFifoName = (queueName: string): boolean => queueName.endsWith('.fifo');

/** The logical name a session splits by; a queue without `name` is known by its source name. */
export const logicalName = (q: QueueConfig): string => q.name ?? q.source;

export interface QueueDeclaration {
  cluster: ClusterConfig;
  queue: QueueConfig;
  region: string;
}

export interface SplitQueue {
  name: string;
  fifo: boolean;
  declarations: QueueDeclaration[];
}

export function allLogicalQueues(t: Topology): string[] {
  return [...new Set(t.clusters.flatMap((c) => c.queues.map(logicalName)))].sort();
}

/** The logical queue with every cluster that declares it; throws if unknown or inconsistent. */
export function splitQueue(t: Topology, name: string): SplitQueue {
  const declarations = t.clusters.flatMap((cluster) =>
    cluster.queues
      .filter((q) => logicalName(q) === name)
      .map((queue) => ({ cluster, queue, region: clusterRegion(t, cluster) })),
  );
  if (declarations.length === 0) throw new UnknownSplitQueueError(name, allLogicalQueues(t));
  const fifo = declarations.map((d) => isFifoName(d.queue.source));
  if (fifo.some((f) => f !== fifo[0])) {
    throw new SplitQueueConfigError(
      name,
      `its source is FIFO in some clusters and standard in others (${declarations.map((d) => `${d.cluster.id}: ${d.queue.source}`).join(', ')}), but one output queue collects them all: make them all FIFO or all standard`,
    );
  }
  return { name, fifo: fifo[0]!, declarations };
}

/** A source queue as an SQS event names it (`arn:aws:sqs:<region>:<account>:<queueName>`). */
export interface SplitSource extends QueueDeclaration {
  arn: string;
  account: string;
  logical: string;
  fifo: boolean;
}

export function parseQueueArn(arn: string): { region: string; account: string; name: string } | undefined {
  const m = /^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d+|[^:]*):([A-Za-z0-9_.-]+)$/.exec(arn);
  return m ? { region: m[1]!, account: m[2]!, name: m[3]! } : undefined;
}

/**
 * The account that owns a queue of another account (context `queueArns`: queue ARN by name), or
 * undefined for a queue of the function's own account: no entry, or an entry for a same-named
 * queue of another region.
 */
export function queueOwner(
  queueArns: Readonly<Record<string, string>> | undefined,
  region: string,
  name: string,
): string | undefined {
  const arn = queueArns?.[name];
  const parsed = arn === undefined ? undefined : parseQueueArn(arn);
  return parsed && parsed.region === region && parsed.name === name ? parsed.account : undefined;
}

/**
 * Finds the cluster and queue a source ARN belongs to, by queue name. Two clusters may use the same
 * queue name in different regions, so the ARN's region breaks the tie. The account does not
 * matter: a source queue may live in another account than the splitter (context `queueArns`).
 */
export function resolveSource(t: Topology, arn: string): SplitSource {
  const parsed = parseQueueArn(arn);
  if (!parsed) throw new UnknownSplitSourceError(arn, `'${arn}' is not an SQS queue ARN`);
  const byName = t.clusters.flatMap((cluster) =>
    cluster.queues
      .filter((q) => q.source === parsed.name)
      .map((queue) => ({ cluster, queue, region: clusterRegion(t, cluster) })),
  );
  const candidates = byName.length > 1 ? byName.filter((d) => d.region === parsed.region) : byName;
  if (candidates.length !== 1) {
    throw new UnknownSplitSourceError(
      arn,
      candidates.length === 0
        ? `queue '${parsed.name}' (${parsed.region}) is not the "source" of any cluster's queue in the topology: the splitter must only be triggered by declared source queues`
        : `queue '${parsed.name}' is the source of several clusters in ${parsed.region} (${candidates.map((d) => d.cluster.id).join(', ')}): give each cluster its own source queue`,
    );
  }
  const d = candidates[0]!;
  return {
    ...d,
    arn,
    account: parsed.account,
    logical: logicalName(d.queue),
    fifo: isFifoName(d.queue.source),
  };
}
