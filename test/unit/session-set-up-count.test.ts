import { describe, expect, it } from 'vitest';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import {
  createSession,
  onChildAnswer,
  onClusterConnected,
  onClusterDisconnected,
  type SessionDeps,
} from '../../shared/sessions/lifecycle.ts';
import { CreateSessionSchema } from '../../shared/sessions/model.ts';
import { readSession } from '../../shared/sessions/sessions.ts';
import { keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { RecordingFeatures } from '../helpers/recording-features.ts';
import { RecordingMessenger } from '../helpers/recording-messenger.ts';

/**
 * The count that settles a session's set-up (`readyChildren` + `failedChildren` against
 * `childCount`): every way a child can answer must count, or the answers still to come never
 * complete it and the session waits in `pending` until it expires.
 */
const topology = parseTopology({
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
    { id: 'south', roles: ['workload'] },
  ],
});

function setup(over: Record<string, number> = {}) {
  let now = 1_000_000;
  const store = new MemoryStore();
  const messenger = new RecordingMessenger(new Set(['east', 'west', 'south']), new Set(['cli-1']));
  const deps: SessionDeps = {
    store,
    topology,
    settings: parseSettings({ sessionTimeoutMs: 600_000, childReadyTimeoutMs: 30_000, ...over }),
    messenger,
    now: () => now,
    features: new RecordingFeatures(),
  };
  return { deps, store, messenger, advance: (ms: number) => (now += ms) };
}

async function started(t: ReturnType<typeof setup>) {
  const s = await createSession(t.deps, 'developer:ann', CreateSessionSchema.parse({ service: 'api' }));
  await t.store.update(keys.session(s.id), { clientConnectionId: 'cli-1' });
  return s.id;
}

const ready = (t: ReturnType<typeof setup>, id: string, cluster: string) =>
  onChildAnswer(t.deps, cluster, { sessionId: id, ready: true });
const failed = (t: ReturnType<typeof setup>, id: string, cluster: string) =>
  onChildAnswer(t.deps, cluster, {
    sessionId: id,
    ready: false,
    error: { code: 'unknown_service', message: "no service 'api' here" },
  });
const stateOf = async (t: ReturnType<typeof setup>, id: string) => (await readSession(t.store, id))!;
describe('the set-up count', () => {
  it('a child.failed while others are still pending: the later answers settle the session (failed, naming it)', async () => {
    const t = setup();
    const id = await started(t);
    await ready(t, id, 'east');
    await failed(t, id, 'west');
    expect((await stateOf(t, id)).state).toBe('pending');

    await ready(t, id, 'south');

    const s = await stateOf(t, id);
    expect(s.state).toBe('closed');
    expect(s.error!.message).toContain('west');
  });

  it('a child back from a disconnect before its first answer, answering before the others: the later answers still settle', async () => {
    const t = setup();
    const id = await started(t);
    await onClusterDisconnected(t.deps, 'west');
    await onClusterConnected(t.deps, 'west');
    await ready(t, id, 'west');
    await ready(t, id, 'east');
    expect((await stateOf(t, id)).state).toBe('pending');

    await ready(t, id, 'south');

    expect((await stateOf(t, id)).state).toBe('ready');
  });
});
