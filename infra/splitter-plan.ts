import {
  type ClusterConfig,
  clusterRegion,
  type QueueConfig,
  type Topology,
} from '../shared/config/topology.ts';
import { OUTPUT_QUEUE_PREFIX, STAGE_PATTERN } from '../shared/split/model.ts';
import type { DeployContext } from './deploy-context.ts';
import { DeploymentConfigError } from './errors.ts';
import { parseKmsKeyArn, parseQueueArn, type QueueFacts, queueFacts } from './queue-facts.ts';

/**
 * A fallback queue whose name carries this prefix is created by the stack; any other is the
 * user's and is imported. Either way the roles name each fallback by its exact ARN.
 */
export const OWNED_QUEUE_PREFIX = 'switchyard-';

/**
 * Whether a name lies in some stage's output-queue namespace (`switchyard-<stage>_`, model.ts).
 * A fallback there would fall under that stage's queue scope, so the stack refuses to create one.
 */
export function inOutputQueueNamespace(name: string): boolean {
  if (!name.startsWith(OUTPUT_QUEUE_PREFIX)) return false;
  const rest = name.slice(OUTPUT_QUEUE_PREFIX.length);
  const end = rest.indexOf('_');
  return end > 0 && STAGE_PATTERN.test(rest.slice(0, end));
}

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
  const all = [...byRegion.values()].flat();
  checkFallbackNames(all);
  for (const list of byRegion.values()) checkVisibilityTimeouts(list, ctx.splitterTimeoutSecs);
  checkQueueArns(all, ctx);
  checkQueueKmsKeys(all, ctx);
  return byRegion;
}

/** Refuses to create a fallback named like an output queue (`switchyard-<stage>_...`). */
export function checkFallbackNames(queues: SourceQueue[]): void {
  const clashing = queues.filter((s) => s.createsFallback && inOutputQueueNamespace(s.queue.fallback));
  if (clashing.length === 0) return;
  const lines = clashing.map(
    (s) =>
      `  - fallback '${s.queue.fallback}' of '${s.queue.source}' (cluster '${s.cluster.id}', ${s.region})`,
  );
  throw new DeploymentConfigError(
    `fallback queue names that look like output queues ("${OUTPUT_QUEUE_PREFIX}<stage>_..."):\n${lines.join('\n')}\nThat is how stage <stage> names its output queues, which its router creates and deletes: rename the fallback without "_" (e.g. "${OUTPUT_QUEUE_PREFIX}orders-fallback").`,
    { queues: clashing.map((s) => s.queue.fallback) },
  );
}

/** Where a queue name is used: as a source, or as a cluster's fallback. */
interface QueueUse {
  what: string;
  region: string;
  created: boolean;
}

function queueUses(queues: SourceQueue[]): Map<string, QueueUse[]> {
  const uses = new Map<string, QueueUse[]>();
  const add = (name: string, use: QueueUse) => uses.set(name, [...(uses.get(name) ?? []), use]);
  for (const s of queues) {
    const where = `cluster '${s.cluster.id}', ${s.region}`;
    add(s.queue.source, { what: `source queue, ${where}`, region: s.region, created: false });
    add(s.queue.fallback, {
      what: `fallback of '${s.queue.source}', ${where}`,
      region: s.region,
      created: s.createsFallback,
    });
  }
  return uses;
}

/**
 * Refuses a `queueArns` entry that would point the stack at another queue than the topology's,
 * each problem on its own line: a queue name the topology does not hold (a typo), an ARN naming
 * another queue than its key, an ARN in another region than the queue's cluster (the splitter of
 * that region reads it, and SQS event sources are regional), a fallback the stack creates (it is
 * created in the account the stack deploys to, so it has no ARN to give).
 */
export function checkQueueArns(queues: SourceQueue[], ctx: DeployContext): void {
  const uses = queueUses(queues);
  const problems: string[] = [];
  for (const [name, arn] of Object.entries(ctx.queueArns)) {
    const ref = parseQueueArn(arn);
    const found = uses.get(name);
    if (!found) {
      problems.push(
        `queue '${name}' is neither a source nor a fallback queue of the topology: fix the name (the topology's queues: ${[...uses.keys()].join(', ')}) or remove the entry`,
      );
      continue;
    }
    if (ref.name !== name) {
      problems.push(
        `queue '${name}': the ARN names queue '${ref.name}': give the ARN of '${name}' itself (arn:${ref.partition}:sqs:<region>:<account>:${name}), or key the entry by the name the topology uses for that queue`,
      );
    }
    for (const use of found) {
      if (use.created) {
        problems.push(
          `queue '${name}' (${use.what}) is created by the stack, in the account it deploys to: remove the entry, or create the fallback yourself in account ${ref.account} under a name without the "${OWNED_QUEUE_PREFIX}" prefix, name it as the fallback in the topology and give its ARN here (the stack then imports it)`,
        );
      } else if (ref.region !== use.region) {
        problems.push(
          `queue '${name}' (${use.what}): the ARN is in ${ref.region}, but the cluster's queues are in ${use.region}, where its splitter reads and sends: give the ARN of the queue in ${use.region}, or fix the cluster's "region" in the topology`,
        );
      }
    }
  }
  if (problems.length === 0) return;
  throw new DeploymentConfigError(
    `context "queueArns" names queues the stacks could not use:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    { problems },
  );
}

/**
 * Refuses a `queueKmsKeys` entry the functions could not use, each problem on its own line: a
 * queue name the topology does not hold (a typo), a fallback the stack creates (it is SSE-SQS), the
 * AWS managed key (no grant needed, none possible), a key outside the queue's region (SQS uses a
 * key of the queue's own region only).
 */
export function checkQueueKmsKeys(queues: SourceQueue[], ctx: DeployContext): void {
  const uses = queueUses(queues);
  const problems: string[] = [];
  for (const [name, arn] of Object.entries(ctx.queueKmsKeys)) {
    const key = parseKmsKeyArn(arn);
    const found = uses.get(name);
    if (!found) {
      problems.push(
        `queue '${name}' is neither a source nor a fallback queue of the topology: fix the name (the topology's queues: ${[...uses.keys()].join(', ')}) or remove the entry`,
      );
      continue;
    }
    if (key.resource.startsWith('alias/aws/')) {
      problems.push(
        `queue '${name}': ${key.resource} is an AWS managed key, whose key policy already lets the account's roles use it through SQS (an IAM grant adds nothing): remove the entry`,
      );
      continue;
    }
    for (const use of found) {
      if (use.created) {
        problems.push(
          `queue '${name}' (${use.what}) is created by the stack with SQS-managed encryption and needs no key: remove the entry, or create the fallback yourself with your key under a name without the "${OWNED_QUEUE_PREFIX}" prefix (the stack then imports it)`,
        );
      } else if (key.region !== use.region) {
        problems.push(
          `queue '${name}' (${use.what}): the key is in ${key.region}, but SQS encrypts a queue only with a key of the queue's own region: give the ARN of the key the queue uses (aws sqs get-queue-attributes --attribute-names KmsMasterKeyId)`,
        );
      }
    }
  }
  if (problems.length === 0) return;
  throw new DeploymentConfigError(
    `context "queueKmsKeys" names keys the functions could not use:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    { problems },
  );
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
