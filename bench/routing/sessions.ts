/**
 * The session part of the routing benchmark alone (section 3 of `run.ts`): session creation for
 * 1 and 10 clusters, in rounds, with the load average of each round. For measuring a change to
 * session set-up without the routed-path phases; `--profile FILE` writes a V8 CPU profile of the
 * 10-cluster world's measured sessions in the first round (start-up left out).
 *
 * `--dynalite` picks where DynamoDB runs: `in-process` (as `run.ts`: everything on one thread),
 * `apart` (dynalite in a process of its own, as DynamoDB is other machines on AWS), or `both`,
 * alternating the two models within each round and reporting each. `--meter off` leaves the
 * counting splice out of DynamoDB's path (one TCP hop less per call on the benchmark's thread;
 * no call counts); `--meter both` alternates metered and unmetered worlds the same way.
 *
 *   npx tsx bench/routing/sessions.ts [--rounds 5] [--sessions 4] [--delay-ms 50] [--dynalite in-process|apart|both] [--profile FILE]
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { type SessionCase, sessionRow } from './report.ts';
import { sessionRoundsOf } from './session-rounds.ts';
import { median } from './stats.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    sessions: { type: 'string', default: '4' },
    'delay-ms': { type: 'string', default: '50' },
    profile: { type: 'string' },
    dynalite: { type: 'string', default: 'in-process' },
    meter: { type: 'string', default: 'on' },
    'max-seconds': { type: 'string', default: '300' },
  },
});
const watchdog = setTimeout(() => {
  console.error(`session benchmark: still running after ${args['max-seconds']} s, giving up`);
  process.exit(2);
}, Number(args['max-seconds']) * 1000);
watchdog.unref();

const began = performance.now();
const log = (line: string) => console.log(`[${((performance.now() - began) / 1000).toFixed(1)} s] ${line}`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' / ');
const loadAtStart = load();

const choices = (flag: string, value: string, one: string, other: string): string[] => {
  if (value === 'both') return [one, other];
  if (value === one || value === other) return [value];
  throw new Error(`--${flag} ${value}: say ${one}, ${other} or both`);
};
const meterOf: Record<string, string> = { on: 'metered', off: 'unmetered' };
const models = choices('dynalite', args.dynalite!, 'in-process', 'apart').flatMap((d) =>
  choices('meter', args.meter!, 'on', 'off').map((m) => `${d}, ${meterOf[m]}`),
);
type Result = Awaited<ReturnType<typeof sessionRoundsOf>>;
const results = new Map<string, Result>(models.map((m) => [m, { cases: [], rounds: [] }]));
let profiled = false;
for (let round = 0; round < Math.max(1, Number(args.rounds)); round++) {
  const order = round % 2 === 0 ? models : [...models].reverse();
  for (const model of order) {
    const one = await sessionRoundsOf({
      rounds: 1,
      sessions: Number(args.sessions),
      delayMs: Number(args['delay-ms']),
      dynaliteApart: model.startsWith('apart'),
      metered: model.endsWith(', metered'),
      log: (line) => log(`[dynalite ${model}] ${line.replace('round 1', `round ${round + 1}`)}`),
      async around(clusters, run) {
        if (!args.profile || profiled || clusters !== 10) return run();
        profiled = true;
        const inspector = new Session();
        inspector.connect();
        await inspector.post('Profiler.enable');
        await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
        await inspector.post('Profiler.start');
        try {
          await run();
        } finally {
          const { profile } = await inspector.post('Profiler.stop');
          writeFileSync(args.profile!, JSON.stringify(profile));
          inspector.disconnect();
        }
      },
    });
    const into = results.get(model)!;
    into.rounds.push(...one.rounds);
    for (const c of one.cases) {
      const same = into.cases.find((x) => x.clusters === c.clusters && x.latencyMs === c.latencyMs);
      if (same) same.runs.push(...c.runs);
      else into.cases.push(c);
    }
  }
}

const callsOf = (c: SessionCase) => {
  const sum: Record<string, number> = {};
  for (const r of c.runs) for (const [k, v] of Object.entries(r.calls)) sum[k] = (sum[k] ?? 0) + v;
  return Object.entries(sum)
    .filter(([, v]) => v !== 0)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${(v / (c.runs.length || 1)).toFixed(1)}`)
    .join(', ');
};
console.log(
  `\nload average (1 / 5 / 15 min) at start ${loadAtStart}, at the end ${load()}; command: npx tsx bench/routing/sessions.ts ${process.argv.slice(2).join(' ')}`,
);
for (const [model, { cases, rounds }] of results) {
  const ratios = rounds.map((r) => r.ratio);
  console.log(`
### dynalite ${model.startsWith('apart') ? 'in a process of its own' : "in the benchmark's process"}, ${model.endsWith(', metered') ? 'through the counting splice' : 'directly (no counting splice: no call counts)'}

1-minute load per round: ${rounds.map((r) => r.load1.toFixed(1)).join(', ')}

| workload clusters | cluster latency ms | sessions | median ms | min ms | max ms | median - latency (router time) | DynamoDB reads / session | writes / session | CPU ms / session |
|---|---|---|---|---|---|---|---|---|---|
${cases.map(sessionRow).join('\n')}

DynamoDB calls per session (operation, key kind):
${cases.map((c) => `- ${c.clusters} cluster(s), ${c.latencyMs} ms: ${callsOf(c)}`).join('\n')}

Ratio 10 / 1 per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}; median **${median(ratios).toFixed(2)}** (${Math.min(...ratios).toFixed(2)} to ${Math.max(...ratios).toFixed(2)}); no latency: ${median(rounds.map((r) => r.ratioNoDelay)).toFixed(2)}`);
}
clearTimeout(watchdog);
process.exit(0);
