import {
  type ClusterConfig,
  clusterRegion,
  type QueueConfig,
  type Topology,
} from '../shared/config/topology.ts';
import type { DeployContext } from './deploy-context.ts';
import { DeploymentConfigError } from './errors.ts';
import { type QueueFacts, queueFacts } from './queue-facts.ts';

/** Queues the stack creates must carry this prefix: the router's IAM scope (`switchyard-*`) relies on it. */
export const OWNED_QUEUE_PREFIX = 'switchyard-';

/**
 * AWS asks for a source queue visibility timeout of at least six times the function timeout, so
 * that a batch retried after throttling does not reappear while an earlier attempt still runs.
 */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface SourceQueue {
  cluster: ClusterConfig;
  region: string;
  queue: QueueConfig;
  facts: QueueFacts;
  /** The stack creates the fallback queue (its name has the owned prefix); otherwise it is imported. */
  createsFallback: boolean;
}

/**
 * One splitter stack per region that holds source queues. A source queue listed by two clusters
 * of one region is the same physical queue with two fallbacks: ambiguous, so refused.
 */
export function splitterPlan(t: Topology, ctx: DeployContext): Map<string, SourceQueue[]> {
  const byRegion = new Map<string, SourceQueue[]>();
  for (const cluster of t.clusters) {
    const region = clusterRegion(t, cluster);
    for (const queue of cluster.queues) {
      const list = byRegion.get(region) ?? [];
      const twin = list.find((s) => s.queue.source === queue.source);
      if (twin) {
        throw new DeploymentConfigError(
          `source queue '${queue.source}' in ${region} is listed by clusters '${twin.cluster.id}' and '${cluster.id}': one queue can have one splitter and one fallback, so list it under one cluster`,
        );
      }
      list.push({
        cluster,
        region,
        queue,
        facts: queueFacts(queue, ctx),
        createsFallback: queue.fallback.startsWith(OWNED_QUEUE_PREFIX),
      });
      byRegion.set(region, list);
    }
  }
  for (const list of byRegion.values()) checkVisibilityTimeouts(list, ctx.splitterTimeoutSecs);
  return byRegion;
}

/** Refuses a source queue whose known visibility timeout is below 6x the splitter timeout. */
export function checkVisibilityTimeouts(queues: SourceQueue[], splitterTimeoutSecs: number): void {
  const minimum = VISIBILITY_TIMEOUT_FACTOR * splitterTimeoutSecs;
  const short = queues.filter(
    (s) => s.facts.visibilityTimeoutSecs !== undefined && s.facts.visibilityTimeoutSecs < minimum,
  );
  if (short.length === 0) return;
  const lines = short.map(
    (s) =>
      `  - queue '${s.queue.source}' (cluster '${s.cluster.id}', ${s.region}): visibility timeout ${s.facts.visibilityTimeoutSecs} s, minimum ${minimum} s`,
  );
  throw new DeploymentConfigError(
    `source queue visibility timeout below ${VISIBILITY_TIMEOUT_FACTOR}x the splitter timeout (${splitterTimeoutSecs} s):\n${lines.join('\n')}\nRaise the queue's VisibilityTimeout (and its entry in context "queueVisibilityTimeouts"), or lower context "splitterTimeoutSecs".`,
    { minimum, queues: short.map((s) => s.queue.source) },
  );
}
