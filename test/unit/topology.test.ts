import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defaultCluster,
  loadTopology,
  parseTopology,
  TopologyError,
  workloadClusters,
} from '../../shared/config/topology.ts';

const cluster = (id: string, roles: string[], extra: Record<string, unknown> = {}) => ({
  id,
  roles,
  ...extra,
});

function problemsOf(input: unknown): { rule: string; cluster?: string; message: string }[] {
  try {
    parseTopology(input);
  } catch (err) {
    expect(err).toBeInstanceOf(TopologyError);
    return (err as TopologyError).problems;
  }
  return [];
}

describe('topology rules', () => {
  it.each([
    {
      name: 'no primary',
      input: { clusters: [cluster('a', ['workload', 'default'])] },
      rule: 'one-primary',
      says: 'add "primary"',
    },
    {
      name: 'two primaries',
      input: {
        clusters: [cluster('a', ['primary', 'workload', 'default']), cluster('b', ['primary', 'workload'])],
      },
      rule: 'one-primary',
      cluster: 'a, b',
      says: 'keep it on exactly one',
    },
    {
      name: 'no default',
      input: { clusters: [cluster('a', ['primary', 'workload'])] },
      rule: 'one-default',
      says: 'add "default"',
    },
    {
      name: 'two defaults',
      input: {
        clusters: [cluster('a', ['primary', 'workload', 'default']), cluster('b', ['workload', 'default'])],
      },
      rule: 'one-default',
      cluster: 'a, b',
      says: 'keep it on exactly one',
    },
    {
      name: 'no workload',
      input: { clusters: [cluster('a', ['primary', 'default'])] },
      rule: 'a-workload',
      says: 'add "workload"',
    },
    {
      name: 'duplicate ids',
      input: { clusters: [cluster('a', ['primary', 'workload', 'default']), cluster('a', ['workload'])] },
      rule: 'unique-ids',
      cluster: 'a',
      says: 'give each cluster its own id',
    },
    {
      name: 'management-only primary that is a workload',
      input: {
        managementOnly: true,
        clusters: [cluster('hub', ['primary', 'workload']), cluster('b', ['workload', 'default'])],
      },
      rule: 'management-only-primary',
      cluster: 'hub',
      says: 'cannot be "workload"',
    },
    {
      name: 'management-only primary that is the default',
      input: {
        managementOnly: true,
        clusters: [cluster('hub', ['primary', 'default']), cluster('b', ['workload'])],
      },
      rule: 'management-only-primary',
      cluster: 'hub',
      says: 'cannot be "default"',
    },
    {
      name: 'a role listed twice',
      input: { clusters: [cluster('a', ['primary', 'workload', 'default', 'workload'])] },
      rule: 'unique-roles',
      cluster: 'a',
      says: 'list each role once',
    },
    {
      name: 'fallback equal to source',
      input: {
        clusters: [
          cluster('a', ['primary', 'workload', 'default'], { queues: [{ source: 'q', fallback: 'q' }] }),
        ],
      },
      rule: 'distinct-fallback',
      cluster: 'a',
      says: 'must differ',
    },
    {
      name: 'FIFO source with a standard fallback',
      input: {
        clusters: [
          cluster('a', ['primary', 'workload', 'default'], {
            queues: [{ source: 'q.fifo', fallback: 'switchyard-q' }],
          }),
        ],
      },
      rule: 'fifo-pair',
      cluster: 'a',
      says: 'both be FIFO',
    },
    {
      name: 'the same queue twice in a cluster',
      input: {
        clusters: [
          cluster('a', ['primary', 'workload', 'default'], {
            queues: [
              { name: 'orders', source: 'q1', fallback: 'f1' },
              { name: 'orders', source: 'q2', fallback: 'f2' },
            ],
          }),
        ],
      },
      rule: 'unique-queues',
      cluster: 'a',
      says: 'once per cluster',
    },
    {
      name: 'a logical queue FIFO in one cluster and standard in another',
      input: {
        clusters: [
          cluster('a', ['primary', 'workload', 'default'], {
            queues: [{ name: 'orders', source: 'a-orders.fifo', fallback: 'a-fb.fifo' }],
          }),
          cluster('b', ['workload'], { queues: [{ name: 'orders', source: 'b-orders', fallback: 'b-fb' }] }),
        ],
      },
      rule: 'same-queue-kind',
      says: 'FIFO (".fifo") everywhere or nowhere',
    },
  ])('rejects $name', ({ input, rule, cluster: clusterId, says }) => {
    // Act
    const problems = problemsOf(input);

    // Assess
    const p = problems.find((x) => x.rule === rule);
    expect(p, JSON.stringify(problems)).toBeDefined();
    expect(p!.message).toContain(says);
    if (clusterId) expect(p!.cluster).toBe(clusterId);
  });

  it.each([
    {
      name: 'unknown role',
      input: { clusters: [cluster('a', ['primary', 'leader'])] },
      says: 'clusters.0.roles.1',
    },
    { name: 'bad id', input: { clusters: [cluster('East_1', ['primary'])] }, says: 'clusters.0.id' },
    { name: 'no clusters', input: { clusters: [] }, says: 'at least one cluster' },
    {
      name: 'unknown field',
      input: { clusters: [cluster('a', ['primary'], { colour: 'red' })] },
      says: 'colour',
    },
    {
      name: 'bad queue name',
      input: { clusters: [cluster('a', ['primary'], { queues: [{ source: 'has space', fallback: 'f' }] })] },
      says: 'clusters.0.queues.0.source',
    },
  ])('reports schema problem: $name', ({ input, says }) => {
    const problems = problemsOf(input);
    expect(
      problems.some((p) => p.rule === 'schema' && p.message.includes(says)),
      JSON.stringify(problems),
    ).toBe(true);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({ clusters: [cluster('a', ['workload']), cluster('a', ['workload'])] });
    expect(problems.map((p) => p.rule).sort()).toEqual(['one-default', 'one-primary', 'unique-ids']);
  });

  it('accepts a management-only primary with a separate default and workloads', () => {
    const t = parseTopology({
      managementOnly: true,
      clusters: [
        cluster('hub', ['primary']),
        cluster('east', ['workload', 'default']),
        cluster('west', ['workload']),
      ],
    });
    expect(defaultCluster(t).id).toBe('east');
    expect(workloadClusters(t).map((c) => c.id)).toEqual(['east', 'west']);
    expect(t.region).toBe('us-east-1');
  });

  it('accepts the committed example file', () => {
    const t = loadTopology('switchyard.config.json');
    expect(t.clusters.map((c) => c.id)).toEqual(['east', 'west']);
  });

  it('refuses unreadable and non-JSON files with a fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-topology-'));
    expect(() => loadTopology(join(dir, 'missing.json'))).toThrow(/cannot read .*ENOENT.*--config/);
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    expect(() => loadTopology(join(dir, 'bad.json'))).toThrow(/not valid JSON/);
  });
});

describe('the committed JSON Schema', () => {
  it('is the one the topology schema gives (regenerate: npm run schema)', async () => {
    const { readFileSync } = await import('node:fs');
    const { topologyJsonSchema } = await import('../../shared/config/json-schema.ts');
    expect(JSON.parse(readFileSync('docs/switchyard.config.schema.json', 'utf8'))).toEqual(
      topologyJsonSchema(),
    );
  });
});
