import type { Machine } from '../routing/machine.ts';
import { type CannonResult, median, percentile } from './load.ts';

export interface PathResult {
  name: string;
  /** One autocannon run per round, 1 and 20 keep-alive clients. */
  c1: CannonResult[];
  c20: CannonResult[];
  /** The proxy process's CPU over every loaded run, and the requests it served in them. */
  cpuSeconds: number;
  cpuRequests: number;
  /** One client, one request at a time, µs. */
  sequential: number[];
}

export interface Report {
  startedAt: Date;
  seconds: number;
  machine: Machine;
  command: string;
  rounds: number;
  secondsPerRun: number;
  paths: PathResult[];
  stream: { bytes: number; seconds: number; rssBefore: number; rssPeak: number };
  nginxMissing?: string;
  /** The connector ran from its TypeScript sources through tsx (`--source`), not bundled. */
  fromSource?: boolean;
  /** Where the processes ran (pin.ts). */
  placement: string;
  /** Busy CPU samples of the pass-through connector by category (`--profile`). */
  profile?: { category: string; share: number }[];
}

/** The row of the Node floor (bench/connector/node-floor.ts). */
export const FLOOR_NAME = 'Node floor';

const MiB = 1024 * 1024;
const int = (n: number) => Math.round(n).toLocaleString('en-US');
const f2 = (n: number) => n.toFixed(2);
const med = (runs: CannonResult[], k: 'rps' | 'p99') => median(runs.map((r) => r[k]));
const failed = (p: PathResult) => [...p.c1, ...p.c20].reduce((s, r) => s + r.failed, 0);

export function renderReport(r: Report): string {
  const by = (prefix: string) => r.paths.find((p) => p.name.startsWith(prefix));
  const direct = by('direct')!;
  const conn = by('connector')!;
  const busy = r.paths.find((p) => p.name.includes('100 sessions'))!;
  const nginx = by('nginx');
  const floor = by(FLOOR_NAME);
  const cpuPer1000 = (p: PathResult | undefined) =>
    p?.cpuRequests ? (p.cpuSeconds * 1e6) / p.cpuRequests : Number.NaN;
  const seqP = (p: PathResult, q: number) => percentile(p.sequential, q);

  const rows = r.paths.map(
    (p) =>
      `| ${p.name} | ${int(med(p.c1, 'rps'))} | ${med(p.c1, 'p99')} | ${int(med(p.c20, 'rps'))} | ${med(p.c20, 'p99')} | ${int(seqP(p, 50))} / ${int(seqP(p, 99))} | ${p.cpuRequests ? f2((p.cpuSeconds * 1e6) / p.cpuRequests) : '-'} | ${failed(p)} |`,
  );

  const goals: [string, string, string, boolean | undefined][] = [];
  if (nginx) {
    const tp = med(conn.c20, 'rps') / med(nginx.c20, 'rps');
    const p99 = med(conn.c20, 'p99') / med(nginx.c20, 'p99');
    goals.push(['pass-through throughput, 20 clients, vs nginx', `${f2(tp)}×`, '≥ 0.8×', tp >= 0.8]);
    goals.push(['pass-through p99, 20 clients, vs nginx', `${f2(p99)}×`, '≤ 1.5×', p99 <= 1.5]);
  } else {
    goals.push(['throughput and p99 vs nginx', `nginx missing: ${r.nginxMissing}`, '', undefined]);
  }
  const addedP99 = (seqP(conn, 99) - seqP(direct, 99)) / 1000;
  const addedP50 = (seqP(conn, 50) - seqP(direct, 50)) / 1000;
  goals.push([
    'added p99 over direct, sequential (p50 for context)',
    `${addedP99.toFixed(3)} ms (p50 ${addedP50.toFixed(3)} ms)`,
    '≤ 1 ms',
    addedP99 <= 1,
  ]);
  const growth = (r.stream.rssPeak - r.stream.rssBefore) / MiB;
  goals.push([
    `${f2(r.stream.bytes / 1024 ** 3)} GiB streamed through (${f2(r.stream.bytes / MiB / r.stream.seconds)} MiB/s)`,
    `RSS +${growth.toFixed(1)} MiB`,
    '≤ 64 MiB',
    growth <= 64,
  ]);
  const sessions = med(busy.c20, 'rps') / med(conn.c20, 'rps');
  goals.push([
    'throughput, 100 live sessions none matching, vs none',
    `${f2(sessions)}×`,
    '≥ 0.9×',
    sessions >= 0.9,
  ]);

  if (floor && nginx) {
    goals.push([
      'for context: the Node floor, 20 clients, vs nginx (throughput; CPU per request)',
      `${f2(med(floor.c20, 'rps') / med(nginx.c20, 'rps'))}×; ${f2(cpuPer1000(floor) / cpuPer1000(nginx))}×`,
      '',
      undefined,
    ]);
    goals.push([
      "for context: the connector's CPU per request over the Node floor's",
      `${f2(cpuPer1000(conn) / cpuPer1000(floor))}×`,
      '',
      undefined,
    ]);
  }

  const m = r.machine;
  return `# Connector benchmark

\`${r.command}\`, ${r.startedAt.toISOString()}, ${Math.round(r.seconds)} s.
Machine: ${m.os}, ${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Node ${m.node}; load average at start ${m.loadAtStart}; ${r.placement}.

The same small service (a short JSON answer, its own process) reached directly, through the
connector (the real \`Connector\`, ${r.fromSource ? 'run from its TypeScript sources through tsx' : "bundled as it ships (`npm run build`'s esbuild options) and run by plain Node"}, its own process, no router
reachable: pass-through), through a
second connector holding 100 live sessions whose filters match none of the requests, through
the Node floor (Node's HTTP server and the connector's upstream client with nothing between them:
not a usable proxy, the least a proxy on Node costs), and through nginx (one worker, upstream keepalive). ${r.rounds} rounds of ${r.secondsPerRun} s per path and client count,
interleaved (each round starts with another path); figures are medians over rounds. Load from
autocannon in the benchmark's process (its latencies are whole milliseconds); the sequential
column is one keep-alive client timed to the µs. CPU is the proxy process's user + system time
(from /proc) over all its loaded runs, per 1,000 requests.

| path | req/s, 1 client | p99 ms, 1 client | req/s, 20 clients | p99 ms, 20 clients | sequential p50 / p99 µs | CPU ms / 1,000 req | failed |
|---|---|---|---|---|---|---|---|
${rows.join('\n')}

| goal | measured | target | met |
|---|---|---|---|
${goals.map(([g, v, t, ok]) => `| ${g} | ${v} | ${t} | ${ok === undefined ? '-' : ok ? 'yes' : 'no'} |`).join('\n')}

Per round, 20 clients, req/s: ${r.paths.map((p) => `${p.name}: ${p.c20.map((x) => int(x.rps)).join(', ')}`).join('; ')}.
${
  r.profile
    ? `
## Where the connector's CPU goes

Self time of the pass-through connector's busy samples over the whole run (\`--cpu-prof\`), by
where the sampled function lives:

| category | share |
|---|---|
${r.profile.map((c) => `| ${c.category} | ${(c.share * 100).toFixed(1)}% |`).join('\n')}
`
    : ''
}`;
}
