import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { ManualClock } from '../../shared/lease/clock.ts';
import type { ReconcileDeps } from '../../shared/reconcile/duty.ts';
import { Reconciler } from '../../shared/reconcile/reconciler.ts';
import { expireSubscribesDuty } from '../../shared/relay/subscribe-duty.ts';
import { startSubscribeAggregate } from '../../shared/routing/subscribe-aggregate.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { RecordingMessenger } from '../helpers/recording-messenger.ts';

const T0 = 50_000_000;

async function setup(deadlineAt: number, answers: Record<string, { ok: true }> = {}) {
  const store = new MemoryStore();
  const clock = new ManualClock(T0);
  const messenger = new RecordingMessenger(new Set(), new Set(['client-1']));
  await store.put({
    ...keys.session('s1'),
    kind: KINDS.session,
    id: 's1',
    state: 'ready',
    clientConnectionId: 'client-1',
  });
  const aggregate = {
    ...startSubscribeAggregate({ reqId: 'r1', subId: 'sub', expected: ['east', 'west'], deadlineAt }),
    answers,
  };
  await store.put({
    pk: 'SESSION#s1',
    sk: 'SUBREQ#r1',
    kind: KINDS.subscribeAggregate,
    sessionId: 's1',
    aggregate,
  });
  const reconciler = new Reconciler({
    store,
    owner: 'me',
    settings: parseSettings({}),
    topology: parseTopology({
      clusters: [
        { id: 'east', roles: ['primary', 'workload', 'default'] },
        { id: 'west', roles: ['workload'] },
      ],
    }),
    clock,
    timers: clock,
    deps: { messenger } as unknown as ReconcileDeps,
    duties: () => [expireSubscribesDuty],
  });
  return { store, messenger, reconciler };
}

describe('expire-subscribes duty', () => {
  it('answers a subscribe whose deadline passed, naming the silent clusters as timed out', async () => {
    const { store, messenger, reconciler } = await setup(T0 - 1, { east: { ok: true } });

    const report = await reconciler.run();

    expect(report.failed).toEqual([]);
    expect(messenger.toConnections).toHaveLength(1);
    expect(messenger.toConnections[0]!.message).toMatchObject({
      type: 'subscribed',
      reqId: 'r1',
      sessionId: 's1',
      clusters: ['east'],
      failed: [{ cluster: 'west', code: 'timeout' }],
    });
    expect(await store.get({ pk: 'SESSION#s1', sk: 'SUBREQ#r1' })).toBeUndefined();
  });

  it('leaves a subscribe alone before its deadline', async () => {
    const { store, messenger, reconciler } = await setup(T0 + 10_000);

    await reconciler.run();

    expect(messenger.toConnections).toEqual([]);
    expect(await store.get({ pk: 'SESSION#s1', sk: 'SUBREQ#r1' })).toBeDefined();
  });
});
