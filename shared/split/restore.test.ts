import { ListQueuesCommand } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { startSqs } from '../../test/helpers/fauxqs.ts';
import { TEST_TOPOLOGY } from '../../test/helpers/local-runtime.ts';
import { parseSettings } from '../config/settings.ts';
import { parseTopology } from '../config/topology.ts';
import { KINDS, keys } from '../store/keys.ts';
import { MemoryStore } from '../store/memory/memory-store.ts';
import type { SplitContext } from './context.ts';
import { registerSessionSplits } from './register.ts';
import { restoreSplitQueues } from './restore.ts';

const topology = parseTopology(TEST_TOPOLOGY);
const settings = parseSettings({});
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function sqsServer() {
  const sqs = await startSqs();
  stops.push(() => sqs.stop());
  return sqs;
}

const ctxOf = (store: MemoryStore, sqs: Awaited<ReturnType<typeof startSqs>>): SplitContext => ({
  store,
  sqs: sqs.client(),
  sqsFor: (r) => sqs.client(r),
  topology,
  settings,
  now: Date.now,
});

async function liveSessionWithSplit(ctx: SplitContext, id: string, createdAt: number): Promise<string> {
  await ctx.store.put({ ...keys.session(id), kind: KINDS.session, id, state: 'ready' });
  const map = await registerSessionSplits(ctx, {
    sessionId: id,
    createdAt,
    owner: 'developer:local',
    splits: [{ queue: 'orders', mode: 'steal', filter: { tenant: `^${id}$` } }],
  });
  await ctx.store.update(keys.session(id), { outputQueues: map });
  return map.orders!;
}

async function queueNames(sqs: Awaited<ReturnType<typeof startSqs>>): Promise<string[]> {
  const out = await sqs.client().send(new ListQueuesCommand({ QueueNamePrefix: 'switchyard-' }));
  return (out.QueueUrls ?? []).map((u) => u.split('/').pop()!).sort();
}

describe('restoreSplitQueues', () => {
  it('creates the output queues of active splits again on an SQS that lost them, and moves their URLs', async () => {
    const store = new MemoryStore();
    const before = await sqsServer();
    const oldUrl = await liveSessionWithSplit(ctxOf(store, before), 'live', 1_000);
    await liveSessionWithSplit(ctxOf(store, before), 'ended', 2_000);
    await store.update(keys.sessionSplit('ended', 'orders'), { status: 'draining' });
    // A new SQS on another port: no queues, and URLs that differ from the stored ones.
    const after = await sqsServer();

    const result = await restoreSplitQueues(ctxOf(store, after));

    expect(result).toEqual({ restored: 1, moved: ['live/orders'], failed: [] });
    const name = oldUrl.split('/').pop()!;
    expect(await queueNames(after)).toEqual([name]);
    const newUrl = oldUrl.replace(new URL(before.endpoint).port, new URL(after.endpoint).port);
    expect((await store.get(keys.sessionSplit('live', 'orders')))?.outputQueueUrl).toBe(newUrl);
    expect((await store.get(keys.queueSplit('orders', 1_000, 'live')))?.outputQueueUrl).toBe(newUrl);
    expect((await store.get(keys.session('live')))?.outputQueues).toEqual({ orders: newUrl });
    // The ended split keeps what it ended with.
    expect((await store.get(keys.sessionSplit('ended', 'orders')))?.outputQueueUrl).toContain(
      `:${new URL(before.endpoint).port}/`,
    );
  });

  it('changes nothing when the queues are still there (idempotent)', async () => {
    const store = new MemoryStore();
    const sqs = await sqsServer();
    const url = await liveSessionWithSplit(ctxOf(store, sqs), 'live', 1_000);
    const version = (await store.get(keys.session('live')))!.version;

    expect(await restoreSplitQueues(ctxOf(store, sqs))).toEqual({ restored: 1, moved: [], failed: [] });
    expect(await restoreSplitQueues(ctxOf(store, sqs))).toEqual({ restored: 1, moved: [], failed: [] });
    expect((await store.get(keys.session('live')))!.version).toBe(version);
    expect((await store.get(keys.sessionSplit('live', 'orders')))?.outputQueueUrl).toBe(url);
  });

  it('does not move the URL of a session that ended meanwhile', async () => {
    const store = new MemoryStore();
    const before = await sqsServer();
    const url = await liveSessionWithSplit(ctxOf(store, before), 'gone', 1_000);
    await store.update(keys.session('gone'), { state: 'closed' });
    const after = await sqsServer();

    await restoreSplitQueues(ctxOf(store, after));

    expect((await store.get(keys.session('gone')))?.outputQueues).toEqual({ orders: url });
  });
});
