import {
  GetQueueAttributesCommand,
  ListQueuesCommand,
  type MessageAttributeValue,
} from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it } from 'vitest';
import { RECONCILER_DUTIES } from '../../functions/reconciler/duties.ts';
import { ValidationError } from '../../shared/errors/errors.ts';
import { endSessionSplits } from '../../shared/split/end.ts';
import {
  InvalidSplitFilterError,
  SplitConflictError,
  SplitQueueConfigError,
  UnknownSplitQueueError,
} from '../../shared/split/errors.ts';
import { ATTR_CLUSTER } from '../../shared/split/message.ts';
import { asSessionSplit, type SessionSplit } from '../../shared/split/model.ts';
import { type RegisterSplitsInput, registerSessionSplits } from '../../shared/split/register.ts';
import { retireDrainedSplitQueues } from '../../shared/split/retire.ts';
import { retireSplitQueuesDuty } from '../../shared/split/retire-duty.ts';
import type { SplitRequest } from '../../shared/split/schema.ts';
import { createSplitter } from '../../shared/split/splitter.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import type { Store } from '../../shared/store/store.ts';
import {
  drainQueue,
  pump,
  receive,
  type SplitWorld,
  sendMessages,
  startSplitWorld,
} from '../helpers/fauxqs.ts';

const S = (v: string): MessageAttributeValue => ({ DataType: 'String', StringValue: v });
const STEAL: SplitRequest = { queue: 'orders', mode: 'steal', filter: { tenant: '^acme$' } };

let world: SplitWorld | undefined;
afterEach(async () => {
  await world?.stop();
  world = undefined;
});

const input = (over: Partial<RegisterSplitsInput> = {}): RegisterSplitsInput => ({
  sessionId: 's1',
  createdAt: 1_000,
  owner: 'developer:alice',
  splits: [STEAL],
  ...over,
});

async function status(w: SplitWorld, sessionId = 's1', queue = 'orders'): Promise<SessionSplit | undefined> {
  const item = await w.store.get(keys.sessionSplit(sessionId, queue));
  return item && asSessionSplit(item);
}

async function outputQueues(w: SplitWorld): Promise<string[]> {
  const out = await w.sqs.client('us-east-1').send(new ListQueuesCommand({ QueueNamePrefix: 'switchyard-' }));
  return (out.QueueUrls ?? []).map((u) => u.split('/').pop()!).sort();
}

/** Records the input of every CreateQueue call the default region's client makes. */
function recordCreateQueue(w: SplitWorld): Record<string, unknown>[] {
  const inputs: Record<string, unknown>[] = [];
  w.sqs.client('us-east-1').middlewareStack.add(
    (next, context) => (args) => {
      if (context.commandName === 'CreateQueueCommand') inputs.push(args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: 'record-create-queue' },
  );
  return inputs;
}

/** A context whose clock is past the quiet period (and the deadline) of anything ended before now. */
const later = (w: SplitWorld, ms = w.settings.splitCacheMs + w.settings.splitSendGraceMs + 1) =>
  w.ctx({ now: () => Date.now() + ms });

describe('registerSessionSplits', () => {
  it('creates one output queue in the default region, named after the stage, publishes the registration and returns the map', async () => {
    world = await startSplitWorld();
    const w = world;

    const created = recordCreateQueue(w);

    const map = await registerSessionSplits(w.ctx({ stage: 'prod' }), input());

    expect(map).toEqual({ orders: expect.stringMatching(/sqs\.us-east-1\..*\/switchyard-prod_s1-orders$/) });
    const s = await status(w);
    expect(s).toMatchObject({
      status: 'active',
      mode: 'steal',
      filter: STEAL.filter,
      owner: 'developer:alice',
      outputQueueUrl: map.orders,
      outputQueueName: 'switchyard-prod_s1-orders',
      outputRegion: 'us-east-1',
    });
    const reg = await w.store.get(keys.queueSplit('orders', 1_000, 's1'));
    expect(reg).toMatchObject({ kind: KINDS.queueSplit, outputQueueUrl: map.orders, mode: 'steal' });
    expect(await outputQueues(w)).toEqual(['switchyard-prod_s1-orders']);
    // SQS-managed encryption: no KMS key, so no role needs a KMS grant for output queues.
    expect(created).toEqual([
      { QueueName: 'switchyard-prod_s1-orders', Attributes: { SqsManagedSseEnabled: 'true' } },
    ]);
  });

  it('names output queues after the local stage when the context names none', async () => {
    world = await startSplitWorld();
    const map = await registerSessionSplits(world.ctx(), input());
    expect(map.orders).toMatch(/\/switchyard-local_s1-orders$/);
  });

  it('is idempotent: a retried registration gets the same queue', async () => {
    world = await startSplitWorld();
    const w = world;
    const a = await registerSessionSplits(w.ctx(), input());
    const b = await registerSessionSplits(w.ctx(), input());
    expect(b).toEqual(a);
    expect(await outputQueues(w)).toEqual(['switchyard-local_s1-orders']);
  });

  it('creates a FIFO output queue without content-based deduplication for FIFO sources', async () => {
    world = await startSplitWorld({ fifo: true });
    const w = world;
    const created = recordCreateQueue(w);
    const map = await registerSessionSplits(w.ctx(), input());
    const attrs = await w.sqs
      .client('us-east-1')
      .send(new GetQueueAttributesCommand({ QueueUrl: map.orders, AttributeNames: ['All'] }));
    expect(map.orders).toMatch(/switchyard-local_s1-orders\.fifo$/);
    expect(attrs.Attributes).toMatchObject({ FifoQueue: 'true', ContentBasedDeduplication: 'false' });
    expect(created.map((c) => c.Attributes)).toEqual([
      { SqsManagedSseEnabled: 'true', FifoQueue: 'true', ContentBasedDeduplication: 'false' },
    ]);
  });

  it.each<[string, SplitRequest[], new (...args: never[]) => Error, RegExp]>([
    ['an empty filter', [{ ...STEAL, filter: {} }], InvalidSplitFilterError, /empty/],
    [
      'a ReDoS pattern',
      [{ ...STEAL, filter: { tenant: '^(a+)+$' } }],
      InvalidSplitFilterError,
      /catastrophic/,
    ],
    [
      'an invalid regex',
      [{ ...STEAL, filter: { tenant: '[a-' } }],
      InvalidSplitFilterError,
      /missing closing \]/,
    ],
    ['an unknown queue', [{ ...STEAL, queue: 'payments' }], UnknownSplitQueueError, /'payments'.*'orders'/],
    ['an unknown mode', [{ ...STEAL, mode: 'copy' as never }], ValidationError, /mode/],
    ['two splits of one queue', [STEAL, { ...STEAL, mode: 'mirror' }], ValidationError, /split twice/],
  ])('rejects %s before writing or creating anything', async (_, splits, error, message) => {
    world = await startSplitWorld();
    const w = world;

    const act = registerSessionSplits(w.ctx(), input({ splits }));

    await expect(act).rejects.toBeInstanceOf(error);
    await expect(act).rejects.toThrow(message);
    expect(await w.store.query(keys.sessionSplit('s1', '').pk)).toEqual([]);
    expect(await outputQueues(w)).toEqual([]);
  });

  it('validates splits stored on a session as unknown values', async () => {
    world = await startSplitWorld();
    const w = world;
    await expect(registerSessionSplits(w.ctx(), input({ splits: [null, 'orders'] }))).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(await w.store.query(keys.sessionSplit('s1', '').pk)).toEqual([]);
  });

  it('rejects a queue that is FIFO in one cluster and standard in another', async () => {
    world = await startSplitWorld();
    const w = world;
    const topology = structuredClone(w.topology);
    topology.clusters[1]!.queues[0]!.source = 'west-orders.fifo';
    topology.clusters[1]!.queues[0]!.fallback = 'west-orders-fallback.fifo';
    await expect(registerSessionSplits(w.ctx({ topology }), input())).rejects.toBeInstanceOf(
      SplitQueueConfigError,
    );
  });

  it('refuses a different split on the same session and queue, and a split that already ended', async () => {
    world = await startSplitWorld();
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    await expect(
      registerSessionSplits(w.ctx(), input({ splits: [{ ...STEAL, filter: { tenant: 'other' } }] })),
    ).rejects.toBeInstanceOf(SplitConflictError);
    await endSessionSplits(w.ctx(), 's1');
    await expect(registerSessionSplits(w.ctx(), input())).rejects.toThrow(/already ended/);
  });

  it.each([
    ['CreateQueue fails', 'sqs'],
    ['the registration write fails after the queue exists', 'store'],
  ])('when %s, end + retire still clean up everything', async (_, where) => {
    // Prepare
    world = await startSplitWorld();
    const w = world;
    let ctx = w.ctx();
    if (where === 'sqs') {
      w.sqs.client('us-east-1').middlewareStack.add(
        (next, context) => (args) => {
          if (context.commandName === 'CreateQueueCommand') throw new Error('injected: CreateQueue down');
          return next(args);
        },
        { step: 'initialize', name: 'fail-create' },
      );
    } else {
      const store: Store = Object.create(w.store);
      store.put = (item, opts) =>
        item.kind === KINDS.queueSplit
          ? Promise.reject(new Error('injected: store down'))
          : w.store.put(item, opts);
      ctx = w.ctx({ store });
    }

    // Act
    await expect(registerSessionSplits(ctx, input())).rejects.toThrow(/injected/);
    const half = await status(w);
    const queuesBefore = await outputQueues(w);
    if (where === 'sqs') w.sqs.client('us-east-1').middlewareStack.remove('fail-create');
    const ended = await endSessionSplits(w.ctx(), 's1');
    const retired = await retireDrainedSplitQueues(later(w));

    // Assess
    expect(half?.status).toBe('registering');
    expect(queuesBefore).toEqual(where === 'sqs' ? [] : ['switchyard-local_s1-orders']);
    expect(ended.ended).toEqual(['orders']);
    expect(retired.retired).toEqual(['s1/orders']);
    expect((await status(w))?.status).toBe('retired');
    expect(await outputQueues(w)).toEqual([]);
  });
});

describe('retire-split-queues duty', () => {
  it('is registered with the reconciler and writes through the fenced writer', async () => {
    world = await startSplitWorld({ settings: { drainTimeoutMs: 0 } });
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    await endSessionSplits(w.ctx(), 's1');
    const fencedWrites: string[] = [];
    const track =
      <A extends unknown[], R>(name: string, fn: (...a: A) => Promise<R>) =>
      (...a: A) => {
        fencedWrites.push(name);
        return fn(...a);
      };
    const fenced = {
      token: 1,
      put: track('put', w.store.put.bind(w.store)),
      update: track('update', w.store.update.bind(w.store)),
      delete: track('delete', w.store.delete.bind(w.store)),
    };
    const ctx = later(w);

    const result = await retireSplitQueuesDuty.run({
      store: w.store,
      now: ctx.now,
      fenced,
      isLeader: () => true,
      settings: w.settings,
      topology: w.topology,
      deps: { sqs: ctx.sqs, sqsFor: ctx.sqsFor! },
      log: { info() {}, warn() {}, error() {} },
    } as never);

    expect(RECONCILER_DUTIES).toContain(retireSplitQueuesDuty);
    expect(result).toMatchObject({ retired: ['s1/orders'] });
    expect(fencedWrites).toEqual(['delete', 'update']);
    expect(await outputQueues(w)).toEqual([]);
  });

  it('stops between splits once the lease is ending', async () => {
    world = await startSplitWorld();
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    await endSessionSplits(w.ctx(), 's1');
    const result = await retireDrainedSplitQueues(later(w), { shouldStop: () => true });
    expect(result).toMatchObject({ checked: 0, retired: [] });
    expect(await outputQueues(w)).toEqual(['switchyard-local_s1-orders']);
  });
});

describe('endSessionSplits and retireDrainedSplitQueues', () => {
  it('ending removes the registration first, then drains; repeated calls change nothing', async () => {
    world = await startSplitWorld({ settings: { drainTimeoutMs: 30_000 } });
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    const t = Date.now();

    const first = await endSessionSplits(w.ctx({ now: () => t }), 's1');
    const again = await endSessionSplits(w.ctx(), 's1');

    expect(first).toEqual({ ended: ['orders'], alreadyEnded: [] });
    expect(again).toEqual({ ended: [], alreadyEnded: ['orders'] });
    expect(await w.store.get(keys.queueSplit('orders', 1_000, 's1'))).toBeUndefined();
    expect(await status(w)).toMatchObject({ status: 'draining', endedAt: t, drainDeadline: t + 30_000 });
  });

  it('waits for splitters to see the end, then deletes a drained queue before the deadline', async () => {
    world = await startSplitWorld({ settings: { drainTimeoutMs: 600_000 } });
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    await endSessionSplits(w.ctx(), 's1');

    const tooSoon = await retireDrainedSplitQueues(w.ctx());
    const queuesMeanwhile = await outputQueues(w);
    const done = await retireDrainedSplitQueues(later(w));

    expect(tooSoon).toMatchObject({ checked: 1, retired: [] });
    expect(queuesMeanwhile).toEqual(['switchyard-local_s1-orders']);
    expect(done.retired).toEqual(['s1/orders']);
    expect(await outputQueues(w)).toEqual([]);
  });

  it('keeps a queue with messages until the deadline, then returns stolen messages to their own cluster', async () => {
    // Prepare: stolen messages from both clusters wait in the output queue.
    world = await startSplitWorld({ settings: { drainTimeoutMs: 600_000 } });
    const w = world;
    await registerSessionSplits(w.ctx(), input());
    for (const c of ['east', 'west'] as const) {
      const msgs = [1, 2, 3].map((i) => ({ body: `${c}-${i}`, attributes: { tenant: S('acme') } }));
      await sendMessages(w.sqs.client(w.clusters[c].region), w.clusters[c].source.url, msgs);
    }
    const splitter = createSplitter(w.ctx());
    for (const c of ['east', 'west'] as const) {
      await pump(w.sqs.client(w.clusters[c].region), w.clusters[c].source, (e) => splitter.handle(e.Records));
    }
    await endSessionSplits(w.ctx(), 's1');

    // Act
    const beforeDeadline = await retireDrainedSplitQueues(later(w));
    const afterDeadline = await retireDrainedSplitQueues(later(w, 600_000 + 1));

    // Assess
    expect(beforeDeadline.retired).toEqual([]);
    expect(afterDeadline).toMatchObject({ retired: ['s1/orders'], returned: 6, discarded: 0 });
    expect(await outputQueues(w)).toEqual([]);
    const east = await drainQueue(w.sqs.client('us-east-1'), w.clusters.east.fallback.url);
    const west = await drainQueue(w.sqs.client('us-west-2'), w.clusters.west.fallback.url);
    expect(east.map((m) => m.Body).sort()).toEqual(['east-1', 'east-2', 'east-3']);
    expect(west.map((m) => m.Body).sort()).toEqual(['west-1', 'west-2', 'west-3']);
    expect(west[0]?.MessageAttributes?.tenant).toEqual(S('acme'));
    expect(west[0]?.MessageAttributes?.[ATTR_CLUSTER]?.StringValue).toBe('west');
    expect(await status(w)).toMatchObject({ status: 'retired', returned: 6 });
  });

  it('drops mirrored copies at the deadline (their originals already reached the fallback)', async () => {
    world = await startSplitWorld({ settings: { drainTimeoutMs: 0 } });
    const w = world;
    await registerSessionSplits(w.ctx(), input({ splits: [{ ...STEAL, mode: 'mirror' }] }));
    const east = w.sqs.client('us-east-1');
    await sendMessages(east, w.clusters.east.source.url, [
      { body: 'copy-me', attributes: { tenant: S('acme') } },
    ]);
    await pump(east, w.clusters.east.source, (e) => createSplitter(w.ctx()).handle(e.Records));
    await endSessionSplits(w.ctx(), 's1');

    const result = await retireDrainedSplitQueues(later(w));

    expect(result).toMatchObject({ retired: ['s1/orders'], returned: 0, discarded: 1 });
    expect((await drainQueue(east, w.clusters.east.fallback.url)).map((m) => m.Body)).toEqual(['copy-me']);
    expect(await status(w)).toMatchObject({ status: 'retired', discarded: 1 });
  });

  it('waits for a message a consumer holds, then returns it once it is visible again', async () => {
    // Prepare: the developer's consumer received a message and never deleted it.
    world = await startSplitWorld({ settings: { drainTimeoutMs: 0 } });
    const w = world;
    const map = await registerSessionSplits(w.ctx(), input());
    const east = w.sqs.client('us-east-1');
    await sendMessages(east, w.clusters.east.source.url, [
      { body: 'held', attributes: { tenant: S('acme') } },
    ]);
    await pump(east, w.clusters.east.source, (e) => createSplitter(w.ctx()).handle(e.Records));
    expect(await receive(east, map.orders!, 10, 3)).toHaveLength(1);
    await endSessionSplits(w.ctx(), 's1');

    // Act
    const whileHeld = await retireDrainedSplitQueues(later(w));
    await new Promise((r) => setTimeout(r, 3_000));
    const afterwards = await retireDrainedSplitQueues(later(w));

    // Assess
    expect(whileHeld.retired).toEqual([]);
    expect(afterwards).toMatchObject({ retired: ['s1/orders'], returned: 1 });
    expect((await drainQueue(east, w.clusters.east.fallback.url)).map((m) => m.Body)).toEqual(['held']);
  });
});
