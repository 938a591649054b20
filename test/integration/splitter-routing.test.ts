import { GetQueueAttributesCommand, type Message, type MessageAttributeValue } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { endSessionSplits } from '../../shared/split/end.ts';
import { ATTR_CLUSTER, ATTR_MESSAGE_ID } from '../../shared/split/message.ts';
import { asSessionSplit } from '../../shared/split/model.ts';
import { type RegisterSplitsInput, registerSessionSplits } from '../../shared/split/register.ts';
import { createSplitter, type Splitter } from '../../shared/split/splitter.ts';
import { keys } from '../../shared/store/keys.ts';
import {
  countCommands,
  deleteMessages,
  drainQueue,
  injectSendFailures,
  pump,
  receive,
  type SplitWorld,
  sendMessages,
  startSplitWorld,
  toLambdaRecord,
} from '../helpers/fauxqs.ts';

const S = (v: string): MessageAttributeValue => ({ DataType: 'String', StringValue: v });
const N = (v: string, type = 'Number'): MessageAttributeValue => ({ DataType: type, StringValue: v });
const B = (bytes: number[]): MessageAttributeValue => ({
  DataType: 'Binary',
  BinaryValue: new Uint8Array(bytes),
});

let world: SplitWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

async function register(w: SplitWorld, input: Omit<RegisterSplitsInput, 'owner'>) {
  return registerSessionSplits(w.ctx(), { owner: 'developer:test', ...input });
}

/** Every queue's messages by body, drained. */
async function contents(w: SplitWorld, outputs: Record<string, string>) {
  const east = w.sqs.client('us-east-1');
  const west = w.sqs.client('us-west-2');
  const all: Record<string, Message[]> = {
    eastFallback: await drainQueue(east, w.clusters.east.fallback.url),
    westFallback: await drainQueue(west, w.clusters.west.fallback.url),
  };
  for (const [name, url] of Object.entries(outputs)) all[name] = await drainQueue(east, url);
  return all;
}
const bodies = (ms: Message[] | undefined) => (ms ?? []).map((m) => m.Body!).sort();

async function pumpBoth(w: SplitWorld, splitter: Splitter, batchSize = 10) {
  const handler = (e: SQSEvent) => splitter.handle(e.Records);
  const east = await pump(w.sqs.client('us-east-1'), w.clusters.east.source, handler, { batchSize });
  const west = await pump(w.sqs.client('us-west-2'), w.clusters.west.source, handler, { batchSize });
  return { failures: east.failures + west.failures, invocations: east.invocations + west.invocations };
}

async function counters(w: SplitWorld, sessionId: string) {
  const item = await w.store.get(keys.sessionSplit(sessionId, 'orders'));
  const s = asSessionSplit(item!);
  return { matched: s.matched ?? 0, lost: s.lost ?? 0 };
}

describe('splitter on the embedded SQS, two clusters, standard queues', () => {
  it('steals, mirrors and falls back per cluster, keeping every attribute', async () => {
    // Prepare
    world = await startSplitWorld();
    const w = world;
    const steal = await register(w, {
      sessionId: 'alice',
      createdAt: 1_000,
      splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: '^acme$' } }],
    });
    const mirror = await register(w, {
      sessionId: 'bob',
      createdAt: 2_000,
      splits: [{ queue: 'orders', mode: 'mirror', filter: { tier: '^gold$', qty: '^[0-9]+$' } }],
    });
    const sent: Record<string, string> = {};
    for (const cluster of ['east', 'west'] as const) {
      const c = w.clusters[cluster];
      const msgs: { body: string; attributes?: Record<string, MessageAttributeValue> }[] = [
        { body: `${cluster}-acme`, attributes: { tenant: S('acme'), blob: B([0, 1, 2, 255]) } },
        { body: `${cluster}-gold`, attributes: { tier: S('gold'), qty: N('7', 'Number.int') } },
        { body: `${cluster}-both`, attributes: { tenant: S('acme'), tier: S('gold'), qty: N('1') } },
        { body: `${cluster}-none`, attributes: { tenant: S('globex') } },
        { body: `${cluster}-binary-tenant`, attributes: { tenant: B([...Buffer.from('acme')]) } },
        { body: `${cluster}-gold-no-qty`, attributes: { tier: S('gold') } },
        { body: `${cluster}-plain` },
      ];
      const ids = await sendMessages(w.sqs.client(c.region), c.source.url, msgs);
      msgs.forEach((m, i) => {
        sent[m.body] = ids[i]!;
      });
    }

    // Act
    const run = await pumpBoth(w, createSplitter(w.ctx()));
    const got = await contents(w, { alice: steal.orders!, bob: mirror.orders! });

    // Assess
    expect(run.failures).toBe(0);
    expect(bodies(got.alice)).toEqual(['east-acme', 'east-both', 'west-acme', 'west-both']);
    expect(bodies(got.bob)).toEqual(['east-gold', 'west-gold']);
    const unmatched = ['binary-tenant', 'gold', 'gold-no-qty', 'none', 'plain'];
    expect(bodies(got.eastFallback)).toEqual(unmatched.map((s) => `east-${s}`));
    expect(bodies(got.westFallback)).toEqual(unmatched.map((s) => `west-${s}`));

    // Every attribute survives, with its type; the original id and cluster travel along.
    const acme = got.alice!.find((m) => m.Body === 'west-acme')!;
    expect(acme.MessageAttributes?.tenant).toEqual({ DataType: 'String', StringValue: 'acme' });
    expect([...acme.MessageAttributes!.blob!.BinaryValue!]).toEqual([0, 1, 2, 255]);
    expect(acme.MessageAttributes?.[ATTR_MESSAGE_ID]?.StringValue).toBe(sent['west-acme']);
    expect(acme.MessageAttributes?.[ATTR_CLUSTER]?.StringValue).toBe('west');
    const gold = got.bob!.find((m) => m.Body === 'east-gold')!;
    expect(gold.MessageAttributes?.qty).toEqual({ DataType: 'Number.int', StringValue: '7' });
    const goldCopy = got.eastFallback!.find((m) => m.Body === 'east-gold')!;
    expect(goldCopy.MessageAttributes?.qty).toEqual({ DataType: 'Number.int', StringValue: '7' });
    expect(goldCopy.MessageAttributes?.[ATTR_MESSAGE_ID]?.StringValue).toBe(sent['east-gold']);

    // Counters: bob lost the two messages both filters matched.
    expect(await counters(w, 'alice')).toEqual({ matched: 4, lost: 0 });
    expect(await counters(w, 'bob')).toEqual({ matched: 2, lost: 2 });
  });

  it('forwards a message that already has 10 attributes unchanged', async () => {
    world = await startSplitWorld();
    const w = world;
    const attributes = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`a${i}`, S(`v${i}`)]));
    await sendMessages(w.sqs.client('us-east-1'), w.clusters.east.source.url, [{ body: 'full', attributes }]);
    await pumpBoth(w, createSplitter(w.ctx()));
    const [m] = await drainQueue(w.sqs.client('us-east-1'), w.clusters.east.fallback.url);
    expect(Object.keys(m!.MessageAttributes!).sort()).toEqual(Object.keys(attributes).sort());
  });

  it('the earliest-created session wins overlaps whatever the registration order, and the loser counts', async () => {
    // Prepare: the later session registers first.
    world = await startSplitWorld();
    const w = world;
    const late = await register(w, {
      sessionId: 'a-late',
      createdAt: 5_000,
      splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: 'acme' } }],
    });
    const early = await register(w, {
      sessionId: 'z-early',
      createdAt: 4_000,
      splits: [{ queue: 'orders', mode: 'mirror', filter: { tenant: '^acme' } }],
    });
    const msgs = Array.from({ length: 25 }, (_, i) => ({ body: `m${i}`, attributes: { tenant: S('acme') } }));
    await sendMessages(w.sqs.client('us-east-1'), w.clusters.east.source.url, msgs);
    const dynamoCalls = countCommands(w.dynamo.client as never);

    // Act
    const run = await pumpBoth(w, createSplitter(w.ctx()), 10);
    const during = { ...dynamoCalls };
    const got = await contents(w, { late: late.orders!, early: early.orders! });

    // Assess
    expect(bodies(got.early)).toHaveLength(25);
    expect(bodies(got.late)).toEqual([]);
    expect(bodies(got.eastFallback)).toHaveLength(25); // mirror: the consumer still gets them
    expect(await counters(w, 'z-early')).toEqual({ matched: 25, lost: 0 });
    expect(await counters(w, 'a-late')).toEqual({ matched: 0, lost: 25 });
    // One counter update per session per batch, one registrations read for the whole run (cache).
    expect(during).toEqual({ UpdateItemCommand: run.invocations * 2, QueryCommand: 1 });
  });

  it('the Lambda handler routes both clusters with the deps from the environment', async () => {
    world = await startSplitWorld();
    const w = world;
    const out = await register(w, {
      sessionId: 'env',
      createdAt: 1,
      splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: 'acme' } }],
    });
    const saved = { ...process.env };
    onTestFinished(() => {
      process.env = saved;
    });
    Object.assign(process.env, {
      SWITCHYARD_TABLE: 'switchyard',
      SWITCHYARD_TOPOLOGY: JSON.stringify(w.topology),
      SWITCHYARD_WS_ENDPOINT: 'http://127.0.0.1:1',
      SWITCHYARD_DYNAMODB_ENDPOINT: w.dynamo.endpoint,
      SWITCHYARD_SQS_ENDPOINT: w.sqs.endpoint,
      AWS_REGION: 'us-west-2',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
    const { handler } = await import('../../functions/splitter/index.ts');
    for (const c of ['east', 'west'] as const) {
      await sendMessages(w.sqs.client(w.clusters[c].region), w.clusters[c].source.url, [
        { body: `${c}-mine`, attributes: { tenant: S('acme') } },
        { body: `${c}-theirs`, attributes: { tenant: S('initech') } },
      ]);
    }

    const east = await pump(w.sqs.client('us-east-1'), w.clusters.east.source, handler);
    const west = await pump(w.sqs.client('us-west-2'), w.clusters.west.source, handler);

    expect(east.failures + west.failures).toBe(0);
    const got = await contents(w, { output: out.orders! });
    expect(bodies(got.output)).toEqual(['east-mine', 'west-mine']);
    expect(bodies(got.eastFallback)).toEqual(['east-theirs']);
    expect(bodies(got.westFallback)).toEqual(['west-theirs']);
  });
});

describe('splitter with FIFO queues', () => {
  it('keeps each group in order on the output and the fallback queues', async () => {
    // Prepare
    world = await startSplitWorld({ fifo: true });
    const w = world;
    const out = await register(w, {
      sessionId: 'fifo',
      createdAt: 1,
      splits: [{ queue: 'orders', mode: 'mirror', filter: { tenant: '^acme$' } }],
    });
    const attrs = await w.sqs
      .client('us-east-1')
      .send(new GetQueueAttributesCommand({ QueueUrl: out.orders, AttributeNames: ['All'] }));
    expect(attrs.Attributes?.FifoQueue).toBe('true');
    expect(attrs.Attributes?.ContentBasedDeduplication).toBe('false');
    const msgs = Array.from({ length: 30 }, (_, i) => ({
      body: `g${i % 3}-${String(i).padStart(2, '0')}`,
      groupId: `g${i % 3}`,
      attributes: { tenant: S(i % 2 ? 'acme' : 'other') },
    }));
    for (const c of ['east', 'west'] as const) {
      await sendMessages(
        w.sqs.client(w.clusters[c].region),
        w.clusters[c].source.url,
        msgs.map((m) => ({ ...m, body: `${c}-${m.body}` })),
      );
    }

    // Act
    const run = await pumpBoth(w, createSplitter(w.ctx()));
    const got = await contents(w, { output: out.orders! });

    // Assess
    expect(run.failures).toBe(0);
    const inOrder = (ms: Message[] | undefined) => (ms ?? []).map((m) => m.Body!);
    const expected = (prefix: string, pick: (i: number) => boolean) =>
      msgs.filter((_, i) => pick(i)).map((m) => `${prefix}-${m.body}`);
    for (const g of ['g0', 'g1', 'g2']) {
      const ofGroup = (bodies: string[], c: string) => bodies.filter((b) => b.startsWith(`${c}-${g}-`));
      for (const c of ['east', 'west']) {
        expect(ofGroup(inOrder(got.output), c)).toEqual(
          ofGroup(
            expected(c, (i) => i % 2 === 1),
            c,
          ),
        );
        expect(ofGroup(inOrder(got[`${c}Fallback`]), c)).toEqual(
          ofGroup(
            expected(c, () => true),
            c,
          ),
        );
      }
    }
    expect(got.output!.every((m) => m.Attributes?.MessageGroupId === m.Body!.split('-')[1])).toBe(true);
  });

  /** A batch as SQS hands it to Lambda: several messages per group (fauxqs receives one per group). */
  async function fifoBatch(w: SplitWorld, order: { body: string; tenant?: string }[]) {
    const east = w.sqs.client('us-east-1');
    await sendMessages(
      east,
      w.clusters.east.source.url,
      order.map((m) => ({
        body: m.body,
        groupId: m.body[0]!,
        ...(m.tenant ? { attributes: { tenant: S(m.tenant) } } : {}),
      })),
    );
    const received: Message[] = [];
    for (let i = 0; i < 20 && received.length < order.length; i++) {
      const got = await receive(east, w.clusters.east.source.url);
      received.push(...got);
      await deleteMessages(east, w.clusters.east.source.url, got);
    }
    return order.map((m) =>
      toLambdaRecord(received.find((r) => r.Body === m.body)!, w.clusters.east.source.arn),
    );
  }

  it('a failed send blocks the rest of its group at every destination; order holds after redelivery', async () => {
    // Prepare: A2 goes to a session's output queue, everything else to the fallback.
    world = await startSplitWorld({ fifo: true });
    const w = world;
    const east = w.sqs.client('us-east-1');
    const out = await register(w, {
      sessionId: 'dev',
      createdAt: 1,
      splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: '^acme$' } }],
    });
    const records = await fifoBatch(w, [
      { body: 'A1' },
      { body: 'B1' },
      { body: 'A2', tenant: 'acme' },
      { body: 'A3' },
      { body: 'B2' },
    ]);
    let outputDown = true;
    injectSendFailures(east, (_, url) => (url === out.orders && outputDown ? 'call' : false));
    const splitter = createSplitter(w.ctx());

    // Act
    const first = await splitter.handle(records);
    const failed = first.batchItemFailures.map(
      (f) => records.find((r) => r.messageId === f.itemIdentifier)!.body,
    );
    outputDown = false;
    const second = await splitter.handle(records.filter((r) => failed.includes(r.body)));

    // Assess: A3 was held back from the fallback until A2 got through.
    expect(failed).toEqual(['A2', 'A3']);
    expect(second.batchItemFailures).toEqual([]);
    expect((await drainQueue(east, out.orders!)).map((m) => m.Body)).toEqual(['A2']);
    const fallback = (await drainQueue(east, w.clusters.east.fallback.url)).map((m) => m.Body!);
    expect(fallback.filter((b) => b.startsWith('A'))).toEqual(['A1', 'A3']);
    expect(fallback.filter((b) => b.startsWith('B'))).toEqual(['B1', 'B2']);
  });

  it('an entry rejected inside a call fails the rest of its group only', async () => {
    world = await startSplitWorld({ fifo: true });
    const w = world;
    const east = w.sqs.client('us-east-1');
    const records = await fifoBatch(w, [
      { body: 'A1' },
      { body: 'B1' },
      { body: 'A2' },
      { body: 'A3' },
      { body: 'B2' },
    ]);
    injectSendFailures(east, (e) => e.MessageBody === 'A2');

    const result = await createSplitter(w.ctx()).handle(records);

    expect(
      result.batchItemFailures.map((f) => records.find((r) => r.messageId === f.itemIdentifier)!.body),
    ).toEqual(['A2', 'A3']);
    const fallback = (await drainQueue(east, w.clusters.east.fallback.url)).map((m) => m.Body);
    expect(fallback.filter((b) => b!.startsWith('B'))).toEqual(['B1', 'B2']);
    expect(fallback).toContain('A1');
  });
});

describe('injected SendMessageBatch failures', () => {
  it.each([
    { fifo: false, batchSize: 30 },
    { fifo: true, batchSize: 10 },
  ])('lose nothing and misroute nothing (fifo: $fifo)', async ({ fifo, batchSize }) => {
    // Prepare
    world = await startSplitWorld({ fifo });
    const w = world;
    const outputs = {
      steal: (
        await register(w, {
          sessionId: 'steal',
          createdAt: 1,
          splits: [{ queue: 'orders', mode: 'steal', filter: { kind: '^s$' } }],
        })
      ).orders!,
      mirror: (
        await register(w, {
          sessionId: 'mirror',
          createdAt: 2,
          splits: [{ queue: 'orders', mode: 'mirror', filter: { kind: '^m$' } }],
        })
      ).orders!,
    };
    const kinds = ['s', 'm', 'n'];
    const expected: Record<string, string[]> = { steal: [], mirror: [], eastFallback: [], westFallback: [] };
    for (const c of ['east', 'west'] as const) {
      const msgs = Array.from({ length: 40 }, (_, i) => ({
        body: `${c}-${i}`,
        attributes: { kind: S(kinds[i % 3]!) },
        ...(fifo ? { groupId: `g${i % 4}` } : {}),
      }));
      for (const m of msgs) {
        const kind = m.attributes.kind.StringValue;
        if (kind === 's') expected.steal!.push(m.body);
        if (kind === 'm') expected.mirror!.push(m.body);
        if (kind !== 's') expected[`${c}Fallback`]!.push(m.body);
      }
      await sendMessages(w.sqs.client(w.clusters[c].region), w.clusters[c].source.url, msgs);
    }
    // Every message's first attempt at each destination fails one time in three; every seventh
    // call fails as a whole. Deterministic, so a failure reproduces.
    const attempts = new Map<string, number>();
    const faulty = new Set<string>();
    const rule = (e: { MessageBody?: string | undefined }, url: string): boolean | 'call' => {
      const key = `${url} ${e.MessageBody}`;
      const n = (attempts.get(key) ?? 0) + 1;
      attempts.set(key, n);
      const index = Number(e.MessageBody!.split('-')[1]);
      if (n === 1 && index % 3 === 1) {
        faulty.add(e.MessageBody!);
        return true;
      }
      return false;
    };
    for (const region of ['us-east-1', 'us-west-2']) {
      injectSendFailures(w.sqs.client(region), (e, url, call) => {
        if (call % 7 === 0) {
          faulty.add(e.MessageBody!);
          return 'call';
        }
        return rule(e, url);
      });
    }

    // Act
    const run = await pumpBoth(w, createSplitter(w.ctx()), batchSize);
    const got = await contents(w, outputs);

    // Assess
    expect(run.failures).toBeGreaterThan(0);
    for (const [queue, bodiesExpected] of Object.entries(expected)) {
      const arrived = bodies(got[queue]);
      // No loss, no misroute: the same set of messages...
      expect([...new Set(arrived)].sort(), queue).toEqual([...bodiesExpected].sort());
      // ...and a duplicate only where a send failed part-way (at least once). FIFO deduplicates.
      const dupes = arrived.filter((b, i) => arrived.indexOf(b) !== i);
      if (fifo) expect(dupes, queue).toEqual([]);
      for (const d of dupes) expect(faulty.has(d), `${queue} ${d}`).toBe(true);
    }
  });
});

describe('a session that ends while messages flow', () => {
  it('sends nothing to a deleted output queue: stale splitters fall back', async () => {
    // Prepare: a splitter whose cache will outlive the session.
    world = await startSplitWorld({ settings: { splitCacheMs: 60_000, drainTimeoutMs: 0 } });
    const w = world;
    const east = w.sqs.client('us-east-1');
    const out = await register(w, {
      sessionId: 'short',
      createdAt: 1,
      splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: 'acme' } }],
    });
    const infos: string[] = [];
    const splitter = createSplitter(w.ctx({ logger: { info: (m) => infos.push(m), warn() {}, error() {} } }));
    const handler = (e: SQSEvent) => splitter.handle(e.Records);
    const msgs = (from: number) =>
      Array.from({ length: 10 }, (_, i) => ({ body: `m${from + i}`, attributes: { tenant: S('acme') } }));
    await sendMessages(east, w.clusters.east.source.url, msgs(0));
    await pump(east, w.clusters.east.source, handler);
    const routed = bodies(await drainQueue(east, out.orders!));

    // Act: end the session and delete its queue, then keep splitting with the stale view.
    await endSessionSplits(w.ctx(), 'short');
    const { retireDrainedSplitQueues } = await import('../../shared/split/retire.ts');
    const retired = await retireDrainedSplitQueues(w.ctx({ now: () => Date.now() + 120_000 }));
    await sendMessages(east, w.clusters.east.source.url, msgs(10));
    const after = await pump(east, w.clusters.east.source, handler);

    // Assess
    expect(routed).toHaveLength(10);
    expect(retired.retired).toEqual(['short/orders']);
    expect(after.failures).toBe(0);
    expect(infos).toContain('output queue gone; re-routing its messages');
    expect(bodies(await drainQueue(east, w.clusters.east.fallback.url))).toEqual(
      msgs(10)
        .map((m) => m.body)
        .sort(),
    );
  });
});
