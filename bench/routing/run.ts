/**
 * Routing benchmark: the added latency of a stolen request's round trip through the router, the
 * CPU it costs, throughput with requests in flight, the DynamoDB calls per routed message, and
 * session creation time for 1 and 10 clusters. Every figure is taken in --rounds rounds (at least
 * 5) and reported as the median with its spread (min to max), with the load average per round.
 *
 *   npx tsx bench/routing/run.ts [--append] [--out bench/results/routing.md]
 *
 * Sizes (defaults): --warmup 500 pairs, then per round: --pairs 600 sequential pairs within
 * --seq-seconds 15, --cpu-requests 400 routed and direct requests for CPU per request,
 * --in-flight 16 for --conc-seconds 2 per path; --cold 300 requests (15 s at most) once;
 * --rounds session rounds of --sessions 4 per case, --delay-ms 50 of cluster latency.
 * --append adds the run as a new section to the results file instead of rewriting it.
 *
 * Bounded: every phase stops at its count or its time limit, and a watchdog ends the process
 * (exit 2) if the whole run goes past --max-seconds. See bench/results/routing.md for the method.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { loadavg } from 'node:os';
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
import { type PhaseCalls, type RoundFigures, type RunResult, renderHeader, renderRun } from './report.ts';
import { sessionRoundsOf } from './session-rounds.ts';
import { POLL_MS } from './session-timing.ts';
import { summarize } from './stats.ts';
import { listen, startWorld } from './world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    warmup: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '5' },
    pairs: { type: 'string', default: '600' },
    'seq-seconds': { type: 'string', default: '15' },
    'cpu-requests': { type: 'string', default: '400' },
    'in-flight': { type: 'string', default: '16' },
    'conc-seconds': { type: 'string', default: '2' },
    cold: { type: 'string', default: '300' },
    sessions: { type: 'string', default: '4' },
    'delay-ms': { type: 'string', default: '50' },
    /** CPU ms per routed request measured the same way on the code before the cuts (the goal is half). */
    'baseline-cpu': { type: 'string' },
    'max-seconds': { type: 'string', default: '420' },
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
  const pings0 = intercept.pings();
  const t0 = performance.now();
  const out = await run();
  const calls = diff(world.meter.snapshot(), before);
  const pings = intercept.pings() - pings0;
  const seconds = (performance.now() - t0) / 1000;
  // One row per phase, summed over the rounds.
  const same = phases.find((p) => p.phase === phase);
  if (!same) {
    phases.push({
      phase,
      requests: out.requests,
      pings,
      seconds,
      calls,
      // The warm phases run on the runtime's long-lived router: it refreshes the one cluster's set.
      ...(phase.startsWith('warm') ? { refreshedClusters: 1 } : {}),
    });
  } else {
    same.requests += out.requests;
    same.pings += pings;
    same.seconds += seconds;
    for (const [k, v] of Object.entries(calls)) same.calls[k] = (same.calls[k] ?? 0) + v;
  }
  return out;
}

const rounds = Math.max(1, num('rounds'));
const inFlight = num('in-flight');
const perRequest = (x: Samples) => x.cpuMs / Math.max(1, x.ms.length + x.failed);
const all = {
  seqDirect: [] as Samples[],
  seqRouted: [] as Samples[],
  concDirect: [] as Samples[],
  concRouted: [] as Samples[],
};
const roundFigures: RoundFigures[] = [];
let pairs = 0;
let seqMs = 0;
for (let round = 0; round < rounds; round++) {
  const load1 = loadavg()[0]!;
  const seq = await metered('warm, sequential', async () => {
    const r = await sequentialPairs(direct, routed, num('pairs'), num('seq-seconds') * 1000);
    return { ...r, requests: r.b.ms.length + r.b.failed };
  });
  pairs += seq.pairs;
  seqMs += seq.ms;
  all.seqDirect.push(seq.a);
  all.seqRouted.push(seq.b);
  // CPU per request: the process's CPU time around a run of one path alone (order alternating).
  const cpu = { direct: 0, routed: 0 };
  await metered('warm, sequential', async () => {
    const order = round % 2 === 0 ? (['routed', 'direct'] as const) : (['direct', 'routed'] as const);
    let requests = 0;
    for (const k of order) {
      const r = await sequential(k === 'direct' ? direct : routed, num('cpu-requests'), 20_000);
      cpu[k] = perRequest(r);
      if (k === 'routed') requests = r.ms.length + r.failed;
    }
    return { requests };
  });
  const conc = await metered(`warm, ${inFlight} in flight`, async () => {
    const order = round % 2 === 0 ? (['direct', 'routed'] as const) : (['routed', 'direct'] as const);
    const out = {} as Record<'direct' | 'routed', Samples>;
    for (const k of order)
      out[k] = await concurrent(k === 'direct' ? direct : routed, inFlight, num('conc-seconds') * 1000);
    return { ...out, requests: out.routed.ms.length + out.routed.failed };
  });
  all.concDirect.push(conc.direct);
  all.concRouted.push(conc.routed);
  const d = summarize(seq.a.ms);
  const r = summarize(seq.b.ms);
  const rps = (x: Samples) => (x.ms.length / x.wallMs) * 1000;
  roundFigures.push({
    load1,
    addedP50: r.p50 - d.p50,
    addedP99: r.p99 - d.p99,
    cpuRouted: cpu.routed,
    cpuDirect: cpu.direct,
    rpsRatio: rps(conc.routed) / rps(conc.direct),
    failed: seq.b.failed + conc.routed.failed,
  });
  const f = roundFigures.at(-1)!;
  log(
    `round ${round + 1}: load ${load1.toFixed(2)}, added p50 ${f.addedP50.toFixed(2)} / p99 ${f.addedP99.toFixed(2)} ms, CPU ${f.cpuRouted.toFixed(2)} ms routed / ${f.cpuDirect.toFixed(2)} direct, x${f.rpsRatio.toFixed(3)} with ${inFlight} in flight`,
  );
}
const seqD = mergeSamples(all.seqDirect);
const seqR = mergeSamples(all.seqRouted);
const concD = mergeSamples(all.concDirect);
const concR = mergeSamples(all.concRouted);

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
const { cases: sessions, rounds: sessionRounds } = await sessionRoundsOf({
  rounds,
  sessions: num('sessions'),
  delayMs,
  log,
});

// ---- report ------------------------------------------------------------------------------------

const result: RunResult = {
  startedAt,
  seconds: (performance.now() - began) / 1000,
  machine: host,
  command: `npx tsx bench/routing/run.ts ${process.argv.slice(2).join(' ')}`.trim(),
  loadAtEnd: loadavg()
    .map((l) => l.toFixed(2))
    .join(' / '),
  rounds: roundFigures,
  sessionRounds,
  ...(args['baseline-cpu'] ? { baselineCpu: Number(args['baseline-cpu']) } : {}),
  sequential: {
    direct: summarize(seqD.ms),
    routed: summarize(seqR.ms),
    failed: { direct: seqD.failed, routed: seqR.failed },
    cpu: { direct: Number.NaN, routed: Number.NaN },
    pairs,
    seconds: seqMs / 1000,
  },
  concurrent: {
    direct: summarize(concD.ms),
    routed: summarize(concR.ms),
    failed: { direct: concD.failed, routed: concR.failed },
    cpu: { direct: perRequest(concD), routed: perRequest(concR) },
    inFlight,
    rps: { direct: (concD.ms.length / concD.wallMs) * 1000, routed: (concR.ms.length / concR.wallMs) * 1000 },
    roundRatios: roundFigures.map((f) => f.rpsRatio),
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
