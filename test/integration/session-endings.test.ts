import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { heartbeat } from '../../shared/sessions/sessions.ts';
import { keys } from '../../shared/store/keys.ts';
import type { Store } from '../../shared/store/store.ts';
import { addDeveloper, api, cli, startCluster, type TestCluster } from '../e2e/harness.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { sendMatching, sqsOf, storeOf, waitBodies, waitReleased } from '../helpers/session-release.ts';
import { silentCluster } from '../helpers/silent-cluster.ts';

/**
 * Every way a session ends reaches the same end state (docs/sqs-splitting.md, "Ending a
 * session"): registrations gone, the output queue drained back to each message's cluster
 * fallback and deleted, every child closed, nothing left in the table but the closed record.
 * After each ending a matching message sent to every cluster's source queue reaches that
 * cluster's own fallback.
 *
 * Short timings so each ending settles in a second or two; a reconciler run every 200 ms.
 */
const SETTINGS = {
  sessionTimeoutMs: 3_000,
  childReadyTimeoutMs: 2_500,
  splitCacheMs: 100,
  splitSendGraceMs: 300,
  drainTimeoutMs: 1_000,
  reconcileEveryMs: 200,
  leaseMs: 1_000,
  renewMs: 300,
};

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      queues: [{ name: 'orders', source: 'east-orders', fallback: 'switchyard-east-orders-fb' }],
    },
    {
      id: 'west',
      roles: ['workload'],
      region: 'us-west-2',
      queues: [{ name: 'orders', source: 'west-orders', fallback: 'switchyard-west-orders-fb' }],
    },
  ],
};
const CLUSTERS = [
  { id: 'east', region: 'us-east-1', source: 'east-orders', fallback: 'switchyard-east-orders-fb' },
  { id: 'west', region: 'us-west-2', source: 'west-orders', fallback: 'switchyard-west-orders-fb' },
] as const;
const SPLIT = {
  label: 'split orders',
  splits: [{ queue: 'orders', mode: 'steal', filter: { customer: '^acme$' } }],
};

const dir = mkdtempSync(join(tmpdir(), 'switchyard-endings-'));
let runtime: TestRuntime;
let store: Store;
const clusters = new Map<string, TestCluster>();

const start = async (port = 0) => {
  runtime = await startTestRuntime({ topology: TOPOLOGY, settings: SETTINGS, dir, memory: false, port });
  store = storeOf(runtime);
};
const url = (name: string) => runtime.queues.find((q) => q.queueName === name)!.url;
const outputSqs = () => sqsOf(runtime, 'us-east-1');

beforeAll(async () => {
  await start();
  for (const c of CLUSTERS) clusters.set(c.id, await startCluster(runtime, c.id));
});

afterAll(async () => {
  for (const c of clusters.values()) {
    await c.connector.stop();
    c.upstream.close();
  }
  await runtime?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function readySession(): Promise<{ id: string; outputQueue: string }> {
  const created = await api(runtime, 'POST', '/v1/sessions', SPLIT);
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  await eventually(
    async () => (await api(runtime, 'GET', `/v1/sessions/${id}`)).body.state === 'ready',
    5_000,
    `session ${id} to be ready`,
  );
  return { id, outputQueue: (created.body.outputQueues as Record<string, string>).orders! };
}

async function closedReason(id: string): Promise<string> {
  const s = await store.get(keys.session(id));
  expect(s?.state).toBe('closed');
  return s!.closedReason as string;
}

/** After the ending: a matching message to every cluster's source queue reaches that cluster's fallback. */
async function expectFallbacksGetMatches(tag: string, extra: Record<string, string[]> = {}): Promise<void> {
  for (const c of CLUSTERS) {
    const body = `acme after ${tag} via ${c.source}`;
    await sendMatching(sqsOf(runtime, c.region), url(c.source), body);
    const got = await waitBodies(sqsOf(runtime, c.region), url(c.fallback), [body, ...(extra[c.id] ?? [])]);
    // Each message reached its own cluster's fallback, none the other's.
    expect(got.every((m) => m.Body!.endsWith(c.source))).toBe(true);
  }
}

/** A matching message the session's output queue holds when it ends: the release must bring it home. */
async function strandInOutputQueue(tag: string): Promise<Record<string, string[]>> {
  // Past the splitters' cache window, so both route to the session.
  await new Promise((r) => setTimeout(r, SETTINGS.splitCacheMs * 3));
  const extra: Record<string, string[]> = {};
  for (const c of CLUSTERS) {
    const body = `acme before ${tag} via ${c.source}`;
    await sendMatching(sqsOf(runtime, c.region), url(c.source), body);
    extra[c.id] = [body];
  }
  return extra;
}

describe('every ending of a session releases everything it holds', () => {
  it('DELETE', async () => {
    const { id, outputQueue } = await readySession();

    const res = await api(runtime, 'DELETE', `/v1/sessions/${id}`);

    expect(res.status).toBe(200);
    await waitReleased(store, outputSqs(), id, outputQueue);
    expect(await closedReason(id)).toBe('deleted by its owner');
    await expectFallbacksGetMatches('delete');
  });

  it('expiry without heartbeat (a CLI killed with kill -9): stranded messages go back to their clusters', async () => {
    const { id, outputQueue } = await readySession();
    const stranded = await strandInOutputQueue('expiry');

    // Nobody heartbeats: the reconciler's expire-sessions duty ends it after sessionTimeoutMs.
    await waitReleased(store, outputSqs(), id, outputQueue, 15_000);

    expect(await closedReason(id)).toBe('expired: no heartbeat');
    await expectFallbacksGetMatches('expiry', stranded);
  });

  it('a router that dies half-way through an ending and is started again', async () => {
    const { id, outputQueue } = await readySession();
    const stranded = await strandInOutputQueue('crash');
    // What a router that died right after the first write of an ending leaves behind: the session
    // closed, but its registration, split, children and queue all still there.
    await store.update(keys.session(id), {
      state: 'closed',
      closedReason: 'deleted by its owner',
      closedAt: Date.now(),
    });
    const port = Number(new URL(runtime.httpUrl).port);
    await runtime.stop();
    await start(port);

    await waitReleased(store, outputSqs(), id, outputQueue, 20_000);

    expect(await closedReason(id)).toBe('deleted by its owner');
    await expectFallbacksGetMatches('crash', stranded);
  });

  it('a failed creation (a cluster not connected) releases the split it registered', async () => {
    const west = clusters.get('west')!;
    await west.connector.stop();
    await eventually(
      async () =>
        !(
          (await api(runtime, 'GET', '/v1/clusters')).body.clusters as { id: string; connected: boolean }[]
        ).find((c) => c.id === 'west')!.connected,
      5_000,
      'west to be disconnected',
    );
    try {
      const res = await api(runtime, 'POST', '/v1/sessions', SPLIT);

      expect(res.status).toBe(503);
      const listed = await api(runtime, 'GET', '/v1/sessions');
      const s = (listed.body.sessions as { id: string; state: string; closedReason?: string }[])[0]!;
      expect(s).toMatchObject({ state: 'closed', closedReason: 'a cluster was unavailable' });
      const outputQueue = `${runtime.sqsEndpoint}/000000000000/switchyard-local_${s.id}-orders`;
      await waitReleased(store, outputSqs(), s.id, outputQueue);
    } finally {
      await west.restart();
    }
    await expectFallbacksGetMatches('failed creation');
  });

  it('a default cluster that never answers: the creation times out and is released', async () => {
    const east = clusters.get('east')!;
    await east.connector.stop();
    const silent = await silentCluster(runtime, 'east');
    try {
      const created = await api(runtime, 'POST', '/v1/sessions', SPLIT);
      expect(created.status).toBe(201);
      const id = created.body.id as string;
      const outputQueue = (created.body.outputQueues as Record<string, string>).orders!;

      await waitReleased(store, outputSqs(), id, outputQueue, 15_000);

      const s = (await api(runtime, 'GET', `/v1/sessions/${id}`)).body;
      expect(s).toMatchObject({ state: 'closed', closedReason: 'a cluster failed' });
      expect((s.error as { code: string }).code).toBe('cluster_timeout');
      // Asked (and asked again by the reconciler while pending), then told to close.
      const types = silent.received.filter((m) => m.sessionId === id).map((m) => m.type);
      expect(types[0]).toBe('child.create');
      expect(types.at(-1)).toBe('child.close');
      expect(new Set(types)).toEqual(new Set(['child.create', 'child.close']));
    } finally {
      await silent.close();
      await east.restart();
    }
    await expectFallbacksGetMatches('silent default');
  });

  it('Ctrl-C in the CLI while it shows pending ends the session it was creating, and says so', async () => {
    const west = clusters.get('west')!;
    await west.connector.stop();
    const silent = await silentCluster(runtime, 'west');
    try {
      const run = cli(runtime, ['split', 'orders', '--filter', 'customer=^acme$']);
      await run.waitFor(/west \(workload\): pending/);
      const id = (await store.listByKind('SESSION'))
        .filter((s) => s.state === 'pending')
        .map((s) => s.id as string)[0]!;

      run.child.kill('SIGINT');

      expect(await run.exited).toBe(0);
      expect(run.stderr()).toContain(`ending session ${id}, which was still being set up`);
      expect(run.stderr()).toContain(`session ${id} ended`);
      expect(await closedReason(id)).toBe('deleted by its owner');
      const outputQueue = `${runtime.sqsEndpoint}/000000000000/switchyard-local_${id}-orders`;
      await waitReleased(store, outputSqs(), id, outputQueue);
    } finally {
      await silent.close();
      await west.restart();
    }
    await expectFallbacksGetMatches('ctrl-c');
  });
});

describe('switchyard sessions', () => {
  it('lists each session with its age and what it holds, and `sessions end` ends a stray one', async () => {
    const { id, outputQueue } = await readySession();
    // A client that keeps it alive (a CLI's heartbeats), while the commands below take their time.
    const beat = setInterval(() => void heartbeat(store, id, Date.now(), runtime.settings), 500);
    try {
      await listAndEnd(id);
    } finally {
      clearInterval(beat);
    }
    await waitReleased(store, outputSqs(), id, outputQueue);
  });
});

async function listAndEnd(id: string): Promise<void> {
  // Listing and someone else's attempt are independent: run them side by side.
  const list = cli(runtime, ['sessions']);
  const bob = cli(runtime, ['sessions', 'end', id], await addDeveloper(runtime, 'bob'));
  expect(await list.exited).toBe(0);
  const line = list
    .stdout()
    .split('\n')
    .find((l) => l.startsWith(id))!;
  expect(line).toMatch(
    new RegExp(`^${id}  ready  +\\d+s  split orders  queue orders · east:ready west:ready$`),
  );
  // Someone else's session looks like one that does not exist.
  expect(await bob.exited).toBe(1);
  expect(bob.stderr()).toMatch(/not found/i);
  expect((await store.get(keys.session(id)))?.state).toBe('ready');

  const end = cli(runtime, ['sessions', 'end', id]);
  expect(await end.exited).toBe(0);
  expect(end.stdout()).toContain(`session ${id} ended`);
  expect(end.stdout()).toContain('what is left in its output queue (orders) goes back to the cluster');
  expect(await closedReason(id)).toBe('deleted by its owner');
}
