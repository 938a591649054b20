import { describe, expect, it } from 'vitest';
import { TopologySchema } from '../../shared/config/topology.ts';
import { type ActiveSplit, ActiveSplits } from '../../shared/split/active-splits.ts';
import { regionOfQueueUrl } from '../../shared/split/context.ts';
import {
  SplitQueueConfigError,
  UnknownSplitQueueError,
  UnknownSplitSourceError,
} from '../../shared/split/errors.ts';
import { compileFilter } from '../../shared/split/filter.ts';
import { outputQueueName, outputQueuePrefix } from '../../shared/split/model.ts';
import { decide, destinations } from '../../shared/split/route.ts';
import { resolveSource, splitQueue } from '../../shared/split/topology-queues.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';

const silent = { info() {}, warn() {}, error() {} };

function split(
  sessionId: string,
  createdAt: number,
  mode: 'steal' | 'mirror',
  filter: Record<string, string>,
): ActiveSplit {
  return {
    sessionId,
    queue: 'orders',
    mode,
    filter,
    createdAt,
    fifo: false,
    outputQueueUrl: `https://sqs.us-east-1.amazonaws.com/1/out-${sessionId}`,
    compiled: compileFilter(filter),
  };
}
const attrs = (tenant: string) => ({ tenant: { dataType: 'String', stringValue: tenant } });
const FALLBACK = 'https://sqs.us-east-1.amazonaws.com/1/fallback';

describe('decide and destinations', () => {
  const early = split('s-early', 1_000, 'steal', { tenant: '^acme' });
  const late = split('s-late', 2_000, 'mirror', { tenant: 'acme' });
  const other = split('s-other', 1_500, 'mirror', { tenant: '^globex$' });
  const sorted = [early, other, late];

  it.each<[string, string, string | undefined, string[], string[]]>([
    [
      'both match: the earlier session wins, the later one lost it',
      'acme',
      's-early',
      ['s-late'],
      [early.outputQueueUrl],
    ],
    [
      'only the mirror matches: output and fallback',
      'globex',
      's-other',
      [],
      [other.outputQueueUrl, FALLBACK],
    ],
    ['only the later mirror matches', 'the-acme', 's-late', [], [late.outputQueueUrl, FALLBACK]],
    ['nothing matches: fallback only', 'initech', undefined, [], [FALLBACK]],
  ])('%s', (_, tenant, winner, losers, urls) => {
    // Act
    const d = decide(attrs(tenant), sorted);
    // Assess
    expect(d.winner?.sessionId).toBe(winner);
    expect(d.losers.map((l) => l.sessionId)).toEqual(losers);
    expect(destinations(d, FALLBACK).map((x) => x.url)).toEqual(urls);
  });
});

describe('ActiveSplits', () => {
  async function seeded() {
    const store = new MemoryStore();
    const put = (sessionId: string, createdAt: number, filter: Record<string, string>) =>
      store.put({
        ...keys.queueSplit('orders', createdAt, sessionId),
        kind: KINDS.queueSplit,
        sessionId,
        queue: 'orders',
        mode: 'steal',
        filter,
        createdAt,
        fifo: false,
        outputQueueUrl: `u-${sessionId}`,
      });
    // Same creation time: the session id breaks the tie.
    await put('b', 5, { t: 'x' });
    await put('a', 5, { t: 'x' });
    await put('c', 1, { t: 'x' });
    let reads = 0;
    const query = store.query.bind(store);
    store.query = (...args) => {
      reads++;
      return query(...args);
    };
    let clock = 0;
    const splits = new ActiveSplits(store, 1_000, () => clock, silent);
    return { store, splits, reads: () => reads, tick: (ms: number) => (clock += ms), put };
  }

  it('sorts by creation time, then session id', async () => {
    const { splits } = await seeded();
    expect((await splits.get('orders')).map((s) => s.sessionId)).toEqual(['c', 'a', 'b']);
  });

  it('reads the store at most once per cache period, and again when asked for fresh', async () => {
    // Prepare
    const { splits, reads, tick, put } = await seeded();
    // Act
    await Promise.all([splits.get('orders'), splits.get('orders')]);
    tick(999);
    await splits.get('orders');
    const cached = reads();
    await put('d', 0, { t: 'y' });
    tick(1);
    const after = await splits.get('orders');
    await splits.get('orders', { fresh: true });
    // Assess
    expect(cached).toBe(1);
    expect(after[0]?.sessionId).toBe('d');
    expect(reads()).toBe(3);
  });

  it('leaves out output queues reported gone', async () => {
    const { splits } = await seeded();
    splits.markGone('u-a');
    expect((await splits.get('orders')).map((s) => s.sessionId)).toEqual(['c', 'b']);
  });

  it('skips a stored filter that no longer compiles instead of failing the batch', async () => {
    const { splits, put } = await seeded();
    await put('bad', 0, { t: '(a+)+' });
    expect((await splits.get('orders', { fresh: true })).map((s) => s.sessionId)).toEqual(['c', 'a', 'b']);
  });
});

describe('topology lookups', () => {
  // Schema only: `parseTopology` now refuses the mixed queue outright ('same-queue-kind'); the
  // split core's own check stays the defense for a topology that skipped the rules.
  const topology = TopologySchema.parse({
    clusters: [
      {
        id: 'east',
        roles: ['primary', 'workload', 'default'],
        region: 'us-east-1',
        queues: [
          { name: 'orders', source: 'orders-src', fallback: 'orders-fb' },
          { name: 'jobs', source: 'jobs.fifo', fallback: 'jobs-fb.fifo' },
          { name: 'mixed', source: 'mixed.fifo', fallback: 'mixed-fb.fifo' },
        ],
      },
      {
        id: 'west',
        roles: ['workload'],
        region: 'us-west-2',
        queues: [
          { name: 'orders', source: 'orders-src', fallback: 'orders-fb-w' },
          { name: 'mixed', source: 'mixed', fallback: 'mixed-fb' },
          { source: 'legacy', fallback: 'legacy-fb' },
        ],
      },
    ],
  });

  it('finds the cluster of a source ARN, using the region when names repeat', () => {
    const s = resolveSource(topology, 'arn:aws:sqs:us-west-2:123456789012:orders-src');
    expect(s.cluster.id).toBe('west');
    expect(s.queue.fallback).toBe('orders-fb-w');
    expect(s.logical).toBe('orders');
    expect(s.account).toBe('123456789012');
    expect(resolveSource(topology, 'arn:aws:sqs:us-east-1:1:jobs.fifo').fifo).toBe(true);
    expect(resolveSource(topology, 'arn:aws:sqs:us-west-2:1:legacy').logical).toBe('legacy');
  });

  it.each(['arn:aws:sqs:us-east-1:1:unknown', 'arn:aws:sqs:eu-west-1:1:orders-src', 'not-an-arn'])(
    'rejects a source it does not know: %s',
    (arn) => {
      expect(() => resolveSource(topology, arn)).toThrow(UnknownSplitSourceError);
    },
  );

  it('lists every cluster of a logical queue, and rejects unknown or mixed FIFO queues', () => {
    expect(splitQueue(topology, 'orders').declarations.map((d) => d.cluster.id)).toEqual(['east', 'west']);
    expect(splitQueue(topology, 'jobs').fifo).toBe(true);
    expect(() => splitQueue(topology, 'payments')).toThrow(UnknownSplitQueueError);
    expect(() => splitQueue(topology, 'mixed')).toThrow(SplitQueueConfigError);
  });
});

describe('outputQueueName and regionOfQueueUrl', () => {
  it.each<[string, string, string, boolean, RegExp]>([
    ['dev', 's1', 'orders', false, /^switchyard-dev_s1-orders$/],
    ['prod', 's1', 'jobs', true, /^switchyard-prod_s1-jobs\.fifo$/],
    ['local', 's1', 'legacy.fifo', true, /^switchyard-local_s1-legacy\.fifo$/],
    ['dev-2', 'a b/c', 'orders', false, /^switchyard-dev-2_a-b-c-orders$/],
    ['dev', 'x'.repeat(60), 'y'.repeat(40), true, /^switchyard-dev_x+-y+-[0-9a-f]{12}\.fifo$/],
  ])('stage %s: %s + %s (fifo %s)', (stage, sessionId, queue, fifo, expected) => {
    const name = outputQueueName(stage, sessionId, queue, fifo);
    expect(name).toMatch(expected);
    expect(name.length).toBeLessThanOrEqual(80);
    expect(name).toMatch(/^[A-Za-z0-9_-]+(\.fifo)?$/);
  });

  it('keeps the whole stage prefix and 80 characters with the longest stage', () => {
    const stage = `a${'b'.repeat(19)}`;
    for (const fifo of [false, true]) {
      const name = outputQueueName(stage, 'x'.repeat(100), 'y'.repeat(80), fifo);
      expect(name.startsWith(outputQueuePrefix(stage))).toBe(true);
      expect(name.length).toBe(80);
      expect(name).toMatch(/-[0-9a-f]{12}(\.fifo)?$/);
    }
  });

  it('shortened names stay unique', () => {
    const a = outputQueueName('dev', 'x'.repeat(70), 'orders', false);
    const b = outputQueueName('dev', `${'x'.repeat(69)}y`, 'orders', false);
    expect(a).not.toBe(b);
  });

  it('gives two stages disjoint prefixes, even when one stage name starts with the other', () => {
    const pairs: [string, string][] = [
      ['dev', 'dev-2'],
      ['dev', 'prod'],
      ['a', 'a-b'],
      ['local', 'local-1'],
    ];
    // Session ids and queues that try to reach into the other stage's names.
    const sessions = ['s1', '2_s1', '-2_s1', '_x', 'x'.repeat(90)];
    for (const [one, two] of pairs) {
      for (const [stage, other] of [
        [one, two],
        [two, one],
      ] as const) {
        expect(outputQueuePrefix(stage).startsWith(outputQueuePrefix(other))).toBe(false);
        for (const sessionId of sessions) {
          for (const fifo of [false, true]) {
            const name = outputQueueName(stage, sessionId, 'orders', fifo);
            expect(name.startsWith(outputQueuePrefix(stage))).toBe(true);
            expect(name.startsWith(outputQueuePrefix(other))).toBe(false);
          }
        }
      }
    }
  });

  it.each(['', 'Dev', 'dev_1', '1dev', 'a'.repeat(21)])('refuses the stage %j', (stage) => {
    expect(() => outputQueueName(stage, 's1', 'orders', false)).toThrow(/lowercase letters, digits and "-"/);
  });

  it.each<[string, string | undefined]>([
    ['https://sqs.eu-west-1.amazonaws.com/1/q', 'eu-west-1'],
    ['https://us-east-2.queue.amazonaws.com/1/q', 'us-east-2'],
    ['http://sqs.us-west-2.localhost:4566/000000000000/q', 'us-west-2'],
    ['http://127.0.0.1:4566/000000000000/q', undefined],
    ['not a url', undefined],
  ])('%s -> %s', (url, region) => {
    expect(regionOfQueueUrl(url)).toBe(region);
  });
});
