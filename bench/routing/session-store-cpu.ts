/**
 * The session set-up's store work alone: `createSession` and every cluster's `child.ready`
 * answer (all at once), through the real DynamoDB adapter on dynalite in this process, with a
 * messenger that delivers everything and does no I/O. No gateway, connectors, CLI or polls: the
 * CPU per session is the router's lifecycle, the SDK and dynalite, for 1 and 10 clusters, in
 * interleaved rounds, with the store calls per session.
 *
 *   npx tsx bench/routing/session-store-cpu.ts [--sessions 100] [--rounds 5]
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { startDynamoDb } from '../../infra/local/dynamodb.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import type { Messenger } from '../../shared/messaging/messenger.ts';
import type { SessionFeatures } from '../../shared/sessions/features.ts';
import { createSession, onChildAnswer, type SessionDeps } from '../../shared/sessions/lifecycle.ts';
import { CreateSessionSchema } from '../../shared/sessions/model.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import type { Store } from '../../shared/store/store.ts';
import { topologyOf } from './world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: { sessions: { type: 'string', default: '100' }, rounds: { type: 'string', default: '5' } },
});

const messenger: Messenger = {
  toCluster: async () => true,
  toStatefulReplica: async () => true,
  toReplica: async () => true,
  toConnection: async () => true,
  closeConnection: async () => {},
};
const features: SessionFeatures = {
  attachBranches: async () => {},
  registerSplits: async () => ({}),
  childSpecExtras: async () => ({}),
  release: async () => {},
  holders: async () => new Set(),
};

/** Counts the store calls by method (every method of the interface passes through). */
function counting(store: Store, calls: Record<string, number>): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...a: unknown[]) => {
        calls[String(prop)] = (calls[String(prop)] ?? 0) + 1;
        return v.apply(target, a);
      };
    },
  });
}

const dynamo = await startDynamoDb({ path: undefined, region: 'us-east-1', tableName: 'bench' });
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

async function run(clusters: number, sessions: number) {
  const topology = parseTopology(topologyOf(clusters));
  const calls: Record<string, number> = {};
  const deps: SessionDeps = {
    store: counting(new DynamoDbStore(dynamo.client, 'bench'), calls),
    topology,
    settings: parseSettings({}),
    messenger,
    now: Date.now,
    features,
  };
  const req = CreateSessionSchema.parse({ service: 'api' });
  const c0 = cpu();
  const t0 = performance.now();
  for (let i = 0; i < sessions; i++) {
    const s = await createSession(deps, 'developer:bench', req);
    await Promise.all(
      Object.keys(s.clusters).map((c) => onChildAnswer(deps, c, { sessionId: s.id, ready: true })),
    );
  }
  return {
    cpuMs: (cpu() - c0) / sessions,
    wallMs: (performance.now() - t0) / sessions,
    calls: Object.entries(calls)
      .map(([k, v]) => `${k} ${(v / sessions).toFixed(1)}`)
      .join(', '),
  };
}

await run(1, 20);
await run(10, 20); // warm-up
const n = Number(args.sessions);
const rows: { load: number; one: number; ten: number }[] = [];
let callsOne = '';
let callsTen = '';
for (let r = 0; r < Number(args.rounds); r++) {
  const load = loadavg()[0]!;
  const order = r % 2 === 0 ? [1, 10] : [10, 1];
  const out: Record<number, Awaited<ReturnType<typeof run>>> = {};
  for (const c of order) out[c] = await run(c, n);
  rows.push({ load, one: out[1]!.cpuMs, ten: out[10]!.cpuMs });
  callsOne = out[1]!.calls;
  callsTen = out[10]!.calls;
  console.log(
    `round ${r + 1} (load ${load.toFixed(2)}): CPU ms / session 1 cluster ${out[1]!.cpuMs.toFixed(2)}, 10 clusters ${out[10]!.cpuMs.toFixed(2)} (x${(out[10]!.cpuMs / out[1]!.cpuMs).toFixed(2)}); wall ms ${out[1]!.wallMs.toFixed(2)} / ${out[10]!.wallMs.toFixed(2)}`,
  );
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(
  `median CPU ms / session: 1 cluster ${med(rows.map((r) => r.one)).toFixed(2)}, 10 clusters ${med(rows.map((r) => r.ten)).toFixed(2)}; store calls / session: 1 cluster: ${callsOne}; 10 clusters: ${callsTen}`,
);
await dynamo.stop();
process.exit(0);
