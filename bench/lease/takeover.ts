/**
 * How long a standby takes to become leader after the holder dies, with the default settings
 * (lease 15 s, renew 5 s, skew 1 s, margin 1 s), real timers and the system clock, against an
 * in-process dynalite.
 *
 *   npx tsx bench/lease/takeover.ts [--trials 4] [--mode keeper|reconciler|both]
 *
 * keeper:     two LeaseKeepers (long-running processes); the holder is killed (stopped without
 *             releasing) at a random point of its renewal cycle, or stopped gracefully (released).
 * reconciler: two Reconcilers driven by a scheduler every reconcileEveryMs, as the local runtime
 *             does; the holder's scheduler stops at a random point.
 */
import { parseArgs } from 'node:util';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { LeaseKeeper } from '../../shared/lease/keeper.ts';
import { believesUntil } from '../../shared/lease/lease.ts';
import { leaseTiming } from '../../shared/lease/timing.ts';
import { Reconciler } from '../../shared/reconcile/reconciler.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { startDynalite } from '../../test/helpers/dynalite.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({
  options: { trials: { type: 'string', default: '4' }, mode: { type: 'string', default: 'both' } },
});
const trials = Number(values.trials);
const settings = parseSettings({});
const timing = leaseTiming(settings);
const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'], region: 'us-east-1' }],
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  const med = s[Math.floor(s.length / 2)] ?? 0;
  return `min ${s[0]} ms, median ${med} ms, max ${s.at(-1)} ms`;
}

async function keeperTrial(store: DynamoDbStore, name: string, graceful: boolean) {
  let resolveA: () => void = () => {};
  const aLeads = new Promise<void>((r) => {
    resolveA = r;
  });
  const a = new LeaseKeeper({
    store,
    name,
    owner: `a-${name}`,
    timing,
    onAcquired: () => resolveA(),
  });
  let resolveB: (t: number) => void = () => {};
  const bLeads = new Promise<number>((r) => {
    resolveB = r;
  });
  const b = new LeaseKeeper({
    store,
    name,
    owner: `b-${name}`,
    timing,
    onAcquired: () => resolveB(Date.now()),
  });
  a.start();
  await aLeads;
  b.start();
  // Kill a at a random point of its renewal cycle (after at least one renewal).
  await sleep(timing.renewMs + Math.random() * timing.renewMs);
  const last = a.current();
  const killedAt = Date.now();
  const phase = last ? killedAt - last.sentAt : Number.NaN;
  await a.stop({ release: graceful });
  const takenAt = await bLeads;
  await b.stop();
  return {
    takeoverMs: takenAt - killedAt,
    phaseMs: Math.round(phase),
    // Time without any leader: from the end of a's belief to b's acquisition.
    gapMs: last ? takenAt - believesUntil(last) : Number.NaN,
  };
}

async function reconcilerTrial(store: DynamoDbStore, name: string) {
  const every = settings.reconcileEveryMs;
  const make = (owner: string) =>
    new Reconciler({ store, owner, settings, topology, duties: () => [], leaseName: name });
  const a = make(`a-${name}`);
  const b = make(`b-${name}`);
  let aAlive = true;
  let lastRunOfA = 0;
  let takenAt: number | undefined;
  const aLoop = (async () => {
    while (aAlive) {
      const r = await a.run();
      if (r.leader) lastRunOfA = Date.now();
      await sleep(every);
    }
  })();
  await sleep(every / 2 + Math.random() * every); // b runs out of phase with a, at a random offset
  const bLoop = (async () => {
    while (takenAt === undefined) {
      if ((await b.run()).leader) takenAt = Date.now();
      else await sleep(every);
    }
  })();
  await sleep(every + Math.random() * every);
  aAlive = false;
  const killedAt = Date.now();
  await bLoop;
  await aLoop;
  return { takeoverMs: takenAt! - killedAt, sinceLastRunMs: takenAt! - lastRunOfA };
}

const local = await startDynalite();
await ensureTable(local.client, 'bench-lease');
const store = new DynamoDbStore(local.client, 'bench-lease');
console.log(`settings: ${JSON.stringify(timing)}, reconcileEveryMs ${settings.reconcileEveryMs}`);

if (values.mode === 'keeper' || values.mode === 'both') {
  const crash: number[] = [];
  for (let i = 0; i < trials; i++) {
    const r = await keeperTrial(store, `keeper-crash-${i}`, false);
    crash.push(r.takeoverMs);
    console.log(
      `keeper, holder killed ${r.phaseMs} ms after its last renewal: takeover after ${r.takeoverMs} ms (no leader for ${r.gapMs} ms)`,
    );
  }
  console.log(
    `keeper, killed: ${stats(crash)} (bound: leaseMs = ${timing.leaseMs} ms after the last renewal)`,
  );
  const graceful: number[] = [];
  for (let i = 0; i < Math.max(1, Math.floor(trials / 2)); i++) {
    const r = await keeperTrial(store, `keeper-release-${i}`, true);
    graceful.push(r.takeoverMs);
    console.log(`keeper, holder stopped and released: takeover after ${r.takeoverMs} ms`);
  }
  console.log(`keeper, released: ${stats(graceful)} (bound: renewMs = ${timing.renewMs} ms)`);
}

if (values.mode === 'reconciler' || values.mode === 'both') {
  const out: number[] = [];
  for (let i = 0; i < trials; i++) {
    const r = await reconcilerTrial(store, `reconciler-${i}`);
    out.push(r.takeoverMs);
    console.log(
      `reconciler (scheduled every ${settings.reconcileEveryMs} ms), holder stopped: takeover after ${r.takeoverMs} ms (${r.sinceLastRunMs} ms after its last run)`,
    );
  }
  console.log(
    `reconciler, stopped: ${stats(out)} (bound: leaseMs + reconcileEveryMs = ${timing.leaseMs + settings.reconcileEveryMs} ms after the last run)`,
  );
}

await local.stop();
