import { readFileSync } from 'node:fs';
import * as z from 'zod';
import { SwitchyardError } from '../errors/errors.ts';
import { describeJsonError } from './json-position.ts';

/**
 * The topology: which clusters exist and what each does. One schema gives the types and the
 * shape validation; `topologyProblems` adds the cross-cluster rules that a schema cannot say.
 */
export const ROLES = ['primary', 'workload', 'default'] as const;
export type Role = (typeof ROLES)[number];

const queueName = z
  .string()
  .min(1)
  .max(80)
  .regex(
    /^[A-Za-z0-9_-]+(\.fifo)?$/,
    'an SQS queue name: letters, digits, "-" and "_", optionally ending in ".fifo"',
  );

export const QueueConfigSchema = z
  .object({
    /** Logical name shared across clusters (`orders`); sessions split by this name. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,39}$/, 'lowercase letters, digits and "-", starting with a letter')
      .optional(),
    /** Physical source queue the cluster's consumer normally reads. */
    source: queueName,
    /** Queue the consumer reads while splitting is active. */
    fallback: queueName,
    /** Env var that carries the queue URL to the consumer (`ORDERS_QUEUE_URL`). */
    env: z
      .string()
      .regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name')
      .optional(),
    /** The source queue's visibility timeout, checked at `cdk synth` against 6x the splitter's timeout. */
    visibilityTimeoutSecs: z.number().int().min(0).max(43_200).optional(),
    /** The source queue's dead-letter queue, which gets a depth alarm. */
    deadLetterQueue: queueName.optional(),
  })
  .strict();
export type QueueConfig = z.infer<typeof QueueConfigSchema>;

export const ClusterConfigSchema = z
  .object({
    id: z
      .string()
      .regex(
        /^[a-z][a-z0-9-]{0,30}$/,
        'lowercase letters, digits and "-", starting with a letter, at most 31 chars',
      ),
    roles: z.array(z.enum(ROLES)).min(1, 'give at least one role: primary, workload or default'),
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
      .optional(),
    queues: z.array(QueueConfigSchema).default([]),
  })
  .strict();
export type ClusterConfig = z.infer<typeof ClusterConfigSchema>;

export const TopologySchema = z
  .object({
    $schema: z.string().optional(),
    /** The primary runs no application pods: it may be neither workload nor default. */
    managementOnly: z.boolean().default(false),
    /** Region of the router itself (and of the default cluster's output queues when unset there). */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region such as eu-west-1')
      .default('us-east-1'),
    clusters: z.array(ClusterConfigSchema).min(1, 'list at least one cluster'),
  })
  .strict();
export type Topology = z.infer<typeof TopologySchema>;

export interface TopologyProblem {
  rule: string;
  cluster?: string;
  message: string;
}

export class TopologyError extends SwitchyardError {
  readonly problems: TopologyProblem[];
  constructor(source: string, problems: TopologyProblem[]) {
    super(
      'invalid_topology',
      `${source} is not a valid topology:\n${problems.map((p) => `  - [${p.rule}] ${p.message}`).join('\n')}`,
      400,
      { problems },
    );
    this.problems = problems;
  }
}

/** The cross-cluster rules. Each problem names the rule, the cluster and the fix. */
export function topologyProblems(t: Topology): TopologyProblem[] {
  const problems: TopologyProblem[] = [];
  const ids = t.clusters.map((c) => c.id);
  const has = (role: Role) => t.clusters.filter((c) => c.roles.includes(role));

  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) {
      problems.push({
        rule: 'unique-ids',
        cluster: id,
        message: `cluster id '${id}' is used more than once: give each cluster its own id`,
      });
    }
    seen.add(id);
  }
  for (const c of t.clusters) {
    if (new Set(c.roles).size !== c.roles.length) {
      problems.push({
        rule: 'unique-roles',
        cluster: c.id,
        message: `cluster '${c.id}' lists a role twice: list each role once`,
      });
    }
  }

  const primaries = has('primary');
  if (primaries.length !== 1) {
    problems.push({
      rule: 'one-primary',
      ...(primaries[0] ? { cluster: primaries.map((c) => c.id).join(', ') } : {}),
      message:
        primaries.length === 0
          ? 'no cluster has the role "primary": add "primary" to the roles of exactly one cluster'
          : `clusters ${primaries.map((c) => `'${c.id}'`).join(', ')} all have the role "primary": keep it on exactly one`,
    });
  }
  const defaults = has('default');
  if (defaults.length !== 1) {
    problems.push({
      rule: 'one-default',
      ...(defaults[0] ? { cluster: defaults.map((c) => c.id).join(', ') } : {}),
      message:
        defaults.length === 0
          ? 'no cluster has the role "default": add "default" to the roles of exactly one cluster (it answers env, files, DNS, outgoing connections and branches)'
          : `clusters ${defaults.map((c) => `'${c.id}'`).join(', ')} all have the role "default": keep it on exactly one`,
    });
  }
  if (has('workload').length === 0) {
    problems.push({
      rule: 'a-workload',
      message:
        'no cluster has the role "workload": add "workload" to the clusters that run the application pods',
    });
  }
  if (t.managementOnly) {
    for (const p of primaries) {
      for (const role of ['workload', 'default'] as const) {
        if (p.roles.includes(role)) {
          problems.push({
            rule: 'management-only-primary',
            cluster: p.id,
            message: `"managementOnly" is true, so the primary cluster '${p.id}' runs no application pods and cannot be "${role}": move "${role}" to another cluster or set "managementOnly": false`,
          });
        }
      }
    }
  }
  for (const c of t.clusters) {
    const names = new Set<string>();
    for (const q of c.queues) {
      const key = q.name ?? q.source;
      if (names.has(key)) {
        problems.push({
          rule: 'unique-queues',
          cluster: c.id,
          message: `cluster '${c.id}' lists queue '${key}' twice: list each queue once per cluster`,
        });
      }
      names.add(key);
      if (q.source === q.fallback) {
        problems.push({
          rule: 'distinct-fallback',
          cluster: c.id,
          message: `cluster '${c.id}' queue '${key}': "fallback" must differ from "source" ('${q.source}')`,
        });
      }
      if (q.source.endsWith('.fifo') !== q.fallback.endsWith('.fifo')) {
        problems.push({
          rule: 'fifo-pair',
          cluster: c.id,
          message: `cluster '${c.id}' queue '${key}': source and fallback must both be FIFO (".fifo") or both standard`,
        });
      }
    }
  }
  // A session splits a logical queue across clusters onto ONE output queue: FIFO or standard,
  // it must be the same kind everywhere.
  const kinds = new Map<string, Set<boolean>>();
  for (const c of t.clusters) {
    for (const q of c.queues) {
      if (!q.name) continue;
      kinds.set(q.name, (kinds.get(q.name) ?? new Set()).add(q.source.endsWith('.fifo')));
    }
  }
  for (const [name, k] of kinds) {
    if (k.size > 1) {
      problems.push({
        rule: 'same-queue-kind',
        message: `queue '${name}' is FIFO in some clusters and standard in others: a split gathers it on one output queue, so make it FIFO (".fifo") everywhere or nowhere`,
      });
    }
  }
  return problems;
}

/** Validate parsed JSON; throws `TopologyError` listing every problem at once. */
export function parseTopology(input: unknown, source = 'the topology'): Topology {
  const parsed = TopologySchema.safeParse(input);
  if (!parsed.success) {
    throw new TopologyError(
      source,
      parsed.error.issues.map((i) => {
        const path = i.path.join('.');
        const clusterIndex =
          i.path[0] === 'clusters' && typeof i.path[1] === 'number' ? i.path[1] : undefined;
        const cluster =
          clusterIndex !== undefined
            ? (input as { clusters?: { id?: unknown }[] })?.clusters?.[clusterIndex]?.id
            : undefined;
        return {
          rule: 'schema',
          ...(typeof cluster === 'string' ? { cluster } : {}),
          message: `${path || '(root)'}: ${i.message}${typeof cluster === 'string' ? ` (cluster '${cluster}')` : ''}`,
        };
      }),
    );
  }
  const problems = topologyProblems(parsed.data);
  if (problems.length > 0) throw new TopologyError(source, problems);
  return parsed.data;
}

export function loadTopology(file: string): Topology {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TopologyError(file, [
      {
        rule: 'file',
        message: `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}): create it or pass --config <file>`,
      },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new TopologyError(file, [
      { rule: 'json', message: `not valid JSON, ${describeJsonError(text, err)}` },
    ]);
  }
  return parseTopology(json, file);
}

export const defaultCluster = (t: Topology): ClusterConfig =>
  t.clusters.find((c) => c.roles.includes('default'))!;
export const workloadClusters = (t: Topology): ClusterConfig[] =>
  t.clusters.filter((c) => c.roles.includes('workload'));
export const clusterRegion = (t: Topology, c: ClusterConfig): string => c.region ?? t.region;
