/**
 * Routing benchmark: the added latency of a stolen request's round trip through the router, the
 * DynamoDB calls per routed message, and session creation time for 1 and 10 clusters.
 *
 *   npx tsx bench/routing/run.ts [--append] [--out bench/results/routing.md]
 *
 * Sizes (defaults): --warmup 500 pairs, --pairs 3000 sequential pairs within --seq-seconds 40,
 * --in-flight 16 for --conc-rounds 3 rounds of --conc-seconds 2 per path, --cold 300 requests
 * (15 s at most), --session-rounds 4 of --sessions 6 per case, --delay-ms 50 of cluster latency.
 * --append adds the run as a new section to the results file instead of rewriting it.
 *
 * Bounded: every phase stops at its count or its time limit, and a watchdog ends the process
 * (exit 2) if the whole run goes past --max-seconds. See bench/results/routing.md for the method.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { type Counts, diff } from './dynamo-meter.ts';
import {
  closeClient,
  concurrent,
  mergeSamples,
  type Samples,
  sequential,
  sequentialPairs,
  type Target,
} from './http-load.ts';
import { startIntercept } from './intercept.ts';
import { machine } from './machine.ts';
import { type PhaseCalls, type RunResult, renderHeader, renderRun, type SessionCase } from './report.ts';
import { POLL_MS, type SessionTiming, timeSessionReady } from './session-timing.ts';
import { summarize } from './stats.ts';
import { listen, startWorld } from './world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    warmup: { type: 'string', default: '500' },
    pairs: { type: 'string', default: '3000' },
    'seq-seconds': { type: 'string', default: '40' },
    'in-flight': { type: 'string', default: '16' },
    'conc-seconds': { type: 'string', default: '2' },
    'conc-rounds': { type: 'string', default: '3' },
    cold: { type: 'string', default: '300' },
    'session-rounds': { type: 'string', default: '4' },
    sessions: { type: 'string', default: '6' },
    'delay-ms': { type: 'string', default: '50' },
    'max-seconds': { type: 'string', default: '180' },
    out: { type: 'string', default: 'bench/results/routing.md' },
    append: { type: 'boolean', default: false },
    title: { type: 'string' },
  },
});
const num = (k: keyof typeof args) => Number(args[k]);

const began = performance.now();
const startedAt = new Date();
const host = machine();
const watchdog = setTimeout(() => {
  console.error(`routing benchmark: still running after ${args['max-seconds']} s, giving up`);
  process.exit(2);
}, num('max-seconds') * 1000);
watchdog.unref();

const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(1)} s] ${line}`);

// The developer's app: the same for the direct baseline and at the end of the routed path.
const body = JSON.stringify({ ok: true, pad: 'x'.repeat(100) });
const app = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-served-by', 'local-app');
  res.end(body);
});
const appPort = await listen(app);

// ---- 1 and 2: round trips and DynamoDB calls, on one cluster ----------------------------------

log('starting the router and one cluster');
const world = await startWorld({ clusters: 1, readyDelayMs: 0 });
const intercept = await startIntercept(world.runtime, appPort);
const direct: Target = {
  name: 'direct',
  url: `http://127.0.0.1:${appPort}/orders/42`,
  headers: {},
  servedBy: 'local-app',
};
const routed: Target = {
  name: 'routed',
  url: `${world.ingressUrl}/orders/42`,
  headers: { 'x-dev': 'bench' },
  servedBy: 'local-app',
};

log(`session ${intercept.sessionId} steals api; warming up`);
await sequentialPairs(direct, routed, num('warmup'), 20_000);

const phases: PhaseCalls[] = [];
async function metered<T extends { requests: number }>(phase: string, run: () => Promise<T>): Promise<T> {
  const before: Counts = world.meter.snapshot();
  const t0 = performance.now();
  const out = await run();
  phases.push({
    phase,
    requests: out.requests,
    seconds: (performance.now() - t0) / 1000,
    calls: diff(world.meter.snapshot(), before),
    // The warm phases run on the runtime's long-lived router: it refreshes the one cluster's set.
    ...(phase.startsWith('warm') ? { refreshedClusters: 1 } : {}),
  });
  return out;
}

log('sequential pairs');
const seq = await metered('warm, sequential', async () => {
  const r = await sequentialPairs(direct, routed, num('pairs'), num('seq-seconds') * 1000);
  return { ...r, requests: r.b.ms.length + r.b.failed };
});
log(`${seq.pairs} pairs`);

log(`${args['in-flight']} in flight`);
const inFlight = num('in-flight');
const conc = await metered(`warm, ${inFlight} in flight`, async () => {
  const all = { direct: [] as Samples[], routed: [] as Samples[] };
  const roundRatios: number[] = [];
  for (let round = 0; round < num('conc-rounds'); round++) {
    const order = round % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
    const rps = { direct: 0, routed: 0 };
    for (const k of order) {
      const r = await concurrent(k === 'direct' ? direct : routed, inFlight, num('conc-seconds') * 1000);
      all[k].push(r);
      rps[k] = (r.ms.length / r.wallMs) * 1000;
    }
    roundRatios.push(rps.routed / rps.direct);
  }
  const d = mergeSamples(all.direct);
  const r = mergeSamples(all.routed);
  return {
    d,
    r,
    roundRatios,
    rps: { direct: (d.ms.length / d.wallMs) * 1000, routed: (r.ms.length / r.wallMs) * 1000 },
    requests: r.ms.length + r.failed,
  };
});

log('cold relay');
world.setColdRelay(true);
const cold = await metered('cold relay, sequential', async () => {
  const r = await sequential(routed, num('cold'), 15_000);
  return { ...r, requests: r.ms.length + r.failed };
});
world.setColdRelay(false);
// A warm phase with no calls proves nothing unless the meter is in the router's path at all.
if (Object.keys(phases.at(-1)!.calls).length === 0) {
  throw new Error('the cold relay made no DynamoDB call through the meter: the meter is not in the path');
}

await intercept.stop();
await world.stop();

// ---- 3: session creation, 1 and 10 clusters, alternating ----------------------------------------

const delayMs = num('delay-ms');
const sessions: SessionCase[] = [1, 10].flatMap((clusters) =>
  [delayMs, 0].map((latencyMs) => ({ clusters, latencyMs, runs: [] as SessionTiming[] })),
);
const caseOf = (clusters: number, latencyMs: number) =>
  sessions.find((c) => c.clusters === clusters && c.latencyMs === latencyMs)!;
for (let round = 0; round < num('session-rounds'); round++) {
  const order = round % 2 === 0 ? [1, 10] : [10, 1];
  for (const n of order) {
    const w = await startWorld({ clusters: n, readyDelayMs: delayMs });
    try {
      await timeSessionReady(w.runtime, w.meter); // unmeasured: first-call costs of a fresh world
      // With and without the cluster latency in turn, in the same world.
      for (let i = 0; i < num('sessions'); i++) {
        for (const latency of [delayMs, 0]) {
          w.setReadyDelay(latency);
          caseOf(n, latency).runs.push(await timeSessionReady(w.runtime, w.meter));
        }
      }
    } finally {
      await w.stop();
    }
    const last = (latency: number) =>
      caseOf(n, latency)
        .runs.slice(-num('sessions'))
        .map((x) => x.ms.toFixed(0))
        .join(' ');
    log(`sessions, round ${round + 1}, ${n} cluster(s): ${last(delayMs)} ms (no latency: ${last(0)} ms)`);
  }
}

// ---- report ------------------------------------------------------------------------------------

const perRequest = (x: Samples) => x.cpuMs / Math.max(1, x.ms.length + x.failed);
const result: RunResult = {
  startedAt,
  seconds: (performance.now() - began) / 1000,
  machine: host,
  command: `npx tsx bench/routing/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
  sequential: {
    direct: summarize(seq.a.ms),
    routed: summarize(seq.b.ms),
    failed: { direct: seq.a.failed, routed: seq.b.failed },
    cpu: { direct: perRequest(seq.a), routed: perRequest(seq.b) },
    pairs: seq.pairs,
    seconds: seq.ms / 1000,
  },
  concurrent: {
    direct: summarize(conc.d.ms),
    routed: summarize(conc.r.ms),
    failed: { direct: conc.d.failed, routed: conc.r.failed },
    cpu: { direct: perRequest(conc.d), routed: perRequest(conc.r) },
    inFlight,
    rps: conc.rps,
    roundRatios: conc.roundRatios,
  },
  cold: { routed: summarize(cold.ms), failed: cold.failed, cpu: perRequest(cold) },
  dynamo: phases,
  sessions: { delayMs, pollMs: POLL_MS, cases: sessions },
};

const out = args.out!;
const previous = args.append && existsSync(out) ? readFileSync(out, 'utf8') : undefined;
const runs = previous ? (previous.match(/^## Run /gm)?.length ?? 0) : 0;
const section = renderRun(result, args.title ?? `Run ${runs + 1}`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, previous ? `${previous.trimEnd()}\n\n${section}` : `${renderHeader()}\n${section}`);
log(`wrote ${out}`);
console.log(section);

closeClient();
app.close();
clearTimeout(watchdog);
// Keep-alive sockets of SDK clients may hold the loop open for a while; the work is done.
process.exit(0);
