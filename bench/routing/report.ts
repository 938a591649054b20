import { REPLICA_SET_MAX_AGE_MS } from '../../shared/messaging/replica-fanout.ts';
import { type Counts, isRead, isWrite, total } from './dynamo-meter.ts';
import type { Machine } from './machine.ts';
import type { SessionTiming } from './session-timing.ts';
import { median, type Summary } from './stats.ts';

export interface LatencyPair {
  direct: Summary;
  routed: Summary;
  failed: { direct: number; routed: number };
  /** Process CPU ms per completed request (NaN where not measured). */
  cpu: { direct: number; routed: number };
}

export interface PhaseCalls {
  phase: string;
  /** Routed HTTP requests completed in the phase (each is two routed messages: request, response). */
  requests: number;
  /** The session client's keep-alive pings in the phase: routed messages too. */
  pings: number;
  seconds: number;
  calls: Counts;
  /**
   * The clusters whose replica sets a long-lived router instance refreshes in the phase (a
   * Query of CLUSTER# per cluster at most every REPLICA_SET_MAX_AGE_MS); 0 or absent for
   * phases whose router instances are fresh per message (their Queries come with messages).
   */
  refreshedClusters?: number;
}

export interface SessionCase {
  clusters: number;
  latencyMs: number;
  runs: SessionTiming[];
}

/** One round of the routed-path figures (each round: sequential pairs, CPU runs, in-flight runs). */
export interface RoundFigures {
  /** 1-minute load average when the round started. */
  load1: number;
  addedP50: number;
  addedP99: number;
  /** Process CPU ms per request, routed and direct, each path run alone. */
  cpuRouted: number;
  cpuDirect: number;
  /** Throughput routed / direct with requests in flight. */
  rpsRatio: number;
  failed: number;
}

export interface SessionRound {
  load1: number;
  /** Median ready time for 10 clusters over that for 1, with and without the cluster latency. */
  ratio: number;
  ratioNoDelay: number;
}

export interface RunResult {
  startedAt: Date;
  seconds: number;
  machine: Machine;
  command: string;
  loadAtEnd: string;
  rounds: RoundFigures[];
  sessionRounds: SessionRound[];
  /** CPU ms per routed request before the cuts, measured the same way (the goal is half of it). */
  baselineCpu?: number;
  sequential: LatencyPair & { pairs: number; seconds: number };
  concurrent: LatencyPair & {
    inFlight: number;
    rps: { direct: number; routed: number };
    roundRatios: number[];
  };
  cold: { routed: Summary; failed: number; cpu: number };
  dynamo: PhaseCalls[];
  sessions: { delayMs: number; pollMs: number; cases: SessionCase[] };
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const f3 = (n: number) => n.toFixed(3);
const cpuCell = (n: number) => (Number.isNaN(n) ? '-' : f2(n));

/**
 * Reads that come with time, not with messages: the refresh of each cluster's cached replica
 * set (a Query of CLUSTER#, at most once per REPLICA_SET_MAX_AGE_MS per cluster and instance)
 * and the session heartbeat (an UpdateItem and a read of SESSION#, at most once per quarter
 * session timeout, counted off as a read+write pair). A replica's lastSeen refresh is an
 * UpdateItem alone. Whatever reads remain came with messages.
 */
export function timeBasedReads(c: Counts, seconds = 0, refreshedClusters = 0): number {
  const refreshes = Math.min(
    c['Query CLUSTER'] ?? 0,
    (Math.ceil((seconds * 1000) / REPLICA_SET_MAX_AGE_MS) + 1) * refreshedClusters,
  );
  return refreshes + heartbeatReads(c);
}

function breakdown(c: Counts): string {
  const parts = Object.entries(c)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`);
  return parts.length ? parts.join(', ') : 'none';
}

/** The heartbeat a ping writes, and the session read that comes with it (every ping on a cold instance). */
function heartbeatReads(c: Counts): number {
  return Math.min((c['Query SESSION'] ?? 0) + (c['GetItem SESSION'] ?? 0), c['UpdateItem SESSION'] ?? 0);
}

export function dynamoFigures(p: PhaseCalls) {
  const messages = p.requests * 2 + p.pings;
  const reads = total(p.calls, isRead);
  const writes = total(p.calls, isWrite);
  const timeBased = timeBasedReads(p.calls, p.seconds, p.refreshedClusters);
  return {
    messages,
    reads,
    writes,
    timeBased,
    messageReads: reads - timeBased,
    readsPerMessage: messages ? reads / messages : Number.NaN,
    /** Reads per message with the heartbeat's set apart (it comes with time, not with traffic). */
    routingReadsPerMessage: messages ? (reads - heartbeatReads(p.calls)) / messages : Number.NaN,
    messageReadsPerMessage: messages ? (reads - timeBased) / messages : Number.NaN,
    writesPerMessage: messages ? writes / messages : Number.NaN,
  };
}

function latencyTable(p: LatencyPair): string {
  const row = (name: string, s: Summary, failed: number, cpu: number) =>
    `| ${name} | ${s.n} | ${f2(s.p50)} | ${f2(s.p90)} | ${f2(s.p99)} | ${f2(s.mean)} | ${f2(s.max)} | ${cpuCell(cpu)} | ${failed} |`;
  return [
    '| path | requests | p50 ms | p90 ms | p99 ms | mean ms | max ms | CPU ms / request | not served by the local app |',
    '|---|---|---|---|---|---|---|---|---|',
    row('direct (laptop app)', p.direct, p.failed.direct, p.cpu.direct),
    row('routed (ingress -> router -> app -> back)', p.routed, p.failed.routed, p.cpu.routed),
    `| **added by routing** | | **${f2(p.routed.p50 - p.direct.p50)}** | ${f2(p.routed.p90 - p.direct.p90)} | **${f2(p.routed.p99 - p.direct.p99)}** | **${f2(p.routed.mean - p.direct.mean)}** | | ${cpuCell(p.cpu.routed - p.cpu.direct)} | |`,
  ].join('\n');
}

export function sessionRow(c: SessionCase): string {
  const ms = c.runs.map((r) => r.ms);
  const m = median(ms);
  const per = (f: (r: SessionTiming) => number) =>
    c.runs.reduce((a, r) => a + f(r), 0) / (c.runs.length || 1);
  const reads = per((r) => total(r.calls, isRead));
  const writes = per((r) => total(r.calls, isWrite));
  return `| ${c.clusters} | ${c.latencyMs} | ${c.runs.length} | **${f1(m)}** | ${f1(Math.min(...ms))} | ${f1(Math.max(...ms))} | ${f1(m - c.latencyMs)} | ${f1(reads)} | ${f1(writes)} | ${f1(per((r) => r.cpuMs))} |`;
}

export function sessionMedian(r: RunResult, clusters: number, latencyMs: number): number {
  const c = r.sessions.cases.find((x) => x.clusters === clusters && x.latencyMs === latencyMs);
  return c ? median(c.runs.map((x) => x.ms)) : Number.NaN;
}

export function renderHeader(): string {
  return `# Routing benchmark

What \`npm run bench:routing\` measures, in one process (the machine is shared and noisy, so every
figure is taken in several rounds, reported as the median with its spread, min to max, next to
the load average of each round, and compared with a baseline taken in the same round):

1. the round trip of an HTTP request that a session steals: client -> the cluster's ingress
   (connector) -> router (the local runtime: the API Gateway WebSocket emulation invoking the
   \`ws\` handler, posting back through the \`@connections\` API) -> the developer's session client
   -> the local app -> the same way back; against the same client calling the same local app
   directly. Per round: sequential pairs (the order alternates each pair) for the added p50 and
   p99; then each path alone, one request at a time, with the process's CPU time around the run
   (CPU ms per request); then each path with requests in flight (throughput, routed / direct);
2. DynamoDB calls per routed message, counted at the wire by a TCP splice in front of the embedded
   DynamoDB (dynalite) that every router client goes through, by operation and key kind. A routed
   request is two routed messages (\`request\` cluster -> client, \`response\` client -> cluster).
   "Warm" is the router's handler as it is (its per-instance caches); "cold" runs every message
   on a fresh relay (what an instance that has never seen the connection does), with the sender's
   identity that the \`$connect\` authorizer attached to the event, as API Gateway does, so only
   the target is read. A run whose cold phase counts no call fails, so "0" in a warm row means
   the meter saw nothing, not that it missed it;
3. session creation time, POST /v1/sessions -> the router decides \`ready\` (the time its
   decision wrote on the session item; the benchmark polls every 20 ms only to know when to
   look), for 1 and 10 workload clusters, each connector holding its \`child.ready\` back by
   the simulated cluster latency; sessions without the latency alternate with them, to show the
   router's own time. Per round both worlds (in alternating order), each freshly started, one
   unmeasured session first; each session is deleted before the next. The ratio is taken per
   round, from that round's medians.

Everything runs on one Node event loop (load generator, connectors, router, dynalite, session
client, local app), so the added latency is CPU time on this machine plus the hops, not network;
"CPU ms / request" is the process's CPU time (user + system) per request, which moves much less
than wall time when other work shares the machine. With requests in flight the one thread is
saturated, so that throughput is the inverse of the CPU per request, not what parallel Lambda
invocations would reach. \`bench/routing/router-cpu.ts\` measures the router's share alone, and
\`bench/routing/profile.ts --profile FILE\` profiles the routed path (see the profile below).

The in-process session client does what \`switchyard intercept\` does per request (call the local
app, send back a \`response\`) without printing a line. The reconciler's schedule is set to 10 min
so its runs do not land in the measured phases.
`;
}

function spread(xs: number[], fmt: (n: number) => string): { median: string; range: string } {
  return { median: fmt(median(xs)), range: `${fmt(Math.min(...xs))} to ${fmt(Math.max(...xs))}` };
}

function figuresTable(r: RunResult, coldReads: number | undefined, warmReads: number): string {
  const rows: [string, number[], (n: number) => string, string, (m: number) => boolean | undefined][] = [
    ['added latency p50, sequential (ms)', r.rounds.map((x) => x.addedP50), f2, 'none', () => undefined],
    ['added latency p99, sequential (ms)', r.rounds.map((x) => x.addedP99), f2, '≤ 5 ms', (m) => m <= 5],
    [
      'CPU ms per routed request (whole process: connector, router, gateway, client, app)',
      r.rounds.map((x) => x.cpuRouted),
      f2,
      r.baselineCpu ? `≤ ${f2(r.baselineCpu / 2)} (half of ${f2(r.baselineCpu)} before)` : 'half of before',
      (m) => (r.baselineCpu ? m <= r.baselineCpu / 2 : undefined),
    ],
    [
      'CPU ms per direct request (same client, same app)',
      r.rounds.map((x) => x.cpuDirect),
      f3,
      '-',
      () => undefined,
    ],
    [
      `throughput with ${r.concurrent.inFlight} in flight, routed / direct`,
      r.rounds.map((x) => x.rpsRatio),
      f3,
      'none',
      () => undefined,
    ],
    [
      `session ready, 10 clusters / 1, ${r.sessions.delayMs} ms cluster latency`,
      r.sessionRounds.map((x) => x.ratio),
      f2,
      '≤ ×1.5',
      (m) => m <= 1.5,
    ],
    [
      'session ready, 10 clusters / 1, no latency (router time alone)',
      r.sessionRounds.map((x) => x.ratioNoDelay),
      f2,
      'none',
      () => undefined,
    ],
  ];
  const lines = rows.map(([name, xs, fmt, goal, met]) => {
    const s = spread(xs, fmt);
    const verdict = met(median(xs));
    return `| ${name} | **${s.median}** | ${s.range} | ${xs.length} | ${goal} | ${verdict === undefined ? '' : verdict ? 'met' : '**not met**'} |`;
  });
  lines.push(
    `| DynamoDB reads per routed message, warm | **${f3(warmReads)}** | one figure over all rounds | | 0 | ${warmReads === 0 ? 'met' : '**not met**'} |`,
    `| DynamoDB reads per routed message, cold relay (a ping's heartbeat read set apart) | **${coldReads === undefined ? '-' : f3(coldReads)}** | one figure | | ≤ 1 | ${coldReads !== undefined && coldReads <= 1 ? 'met' : '**not met**'} |`,
  );
  return ['| measure | median | min to max | rounds | goal | |', '|---|---|---|---|---|---|', ...lines].join(
    '\n',
  );
}

export function renderRun(r: RunResult, title: string): string {
  const warm = r.dynamo.filter((p) => p.phase.startsWith('warm'));
  const cold = r.dynamo.find((p) => p.phase.startsWith('cold'));
  const warmFig = warm.map(dynamoFigures);
  const warmMessageReads = warmFig.reduce((a, f) => a + f.messageReads, 0);
  const warmMessages = warmFig.reduce((a, f) => a + f.messages, 0);
  const coldFig = cold ? dynamoFigures(cold) : undefined;
  const ratio = sessionMedian(r, 10, r.sessions.delayMs) / sessionMedian(r, 1, r.sessions.delayMs);
  const ratioNoDelay = sessionMedian(r, 10, 0) / sessionMedian(r, 1, 0);
  const seqRatio = r.sequential.routed.p50 / r.sequential.direct.p50;
  const c = r.concurrent;
  const rpsRatio = median(c.roundRatios);
  return `## ${title}

Date: ${r.startedAt.toISOString().replace('T', ' ').slice(0, 19)} UTC. Machine: ${r.machine.os}, ${r.machine.cpu}, ${r.machine.cores} cores, ${r.machine.memGiB} GiB RAM, Node ${r.machine.node}. Load average at start: ${r.machine.loadAtStart}, at the end: ${r.loadAtEnd} (1 / 5 / 15 min); 1-minute load at the start of each round: ${r.rounds.map((x) => f1(x.load1)).join(', ')} (routed path), ${r.sessionRounds.map((x) => f1(x.load1)).join(', ')} (sessions). The run took ${f1(r.seconds)} s.

Command: \`${r.command}\`

### Figures (median of the rounds, with the spread)

${figuresTable(r, coldFig?.routingReadsPerMessage, warmMessages ? warmMessageReads / warmMessages : Number.NaN)}

### 1. Round trip, sequential (${r.sequential.pairs} interleaved pairs in ${f1(r.sequential.seconds)} s, after a warm-up)

${latencyTable(r.sequential)}

Routed / direct at p50: x${f1(seqRatio)}.

### 1b. Round trip with ${c.inFlight} requests in flight (rounds alternating direct / routed)

${latencyTable(c)}

| path | throughput (req/s) |
|---|---|
| direct | ${c.rps.direct.toFixed(0)} |
| routed | ${c.rps.routed.toFixed(0)} |
| routed / direct (median of the per-round ratios) | ${f3(rpsRatio)} |

### 2. DynamoDB calls per routed message

| phase | routed requests | routed messages (2 per request, plus pings) | reads | writes | reads / message | of which with messages (not time-based) | writes / message | calls (operation, key kind) |
|---|---|---|---|---|---|---|---|---|
${r.dynamo
  .map((p) => {
    const f = dynamoFigures(p);
    return `| ${p.phase} (${f1(p.seconds)} s) | ${p.requests} | ${f.messages}${p.pings ? ` (${p.pings} ping${p.pings > 1 ? 's' : ''})` : ''} | ${f.reads} | ${f.writes} | ${f3(f.readsPerMessage)} | ${f.messageReads} (${f3(f.messageReadsPerMessage)} / message) | ${f3(f.writesPerMessage)} | ${breakdown(p.calls)} |`;
  })
  .join('\n')}

Cold-relay round trip (every message on a fresh relay): p50 ${f2(r.cold.routed.p50)} ms, p99 ${f2(r.cold.routed.p99)} ms, ${f2(r.cold.cpu)} CPU ms per request, over ${r.cold.routed.n} requests (${r.cold.failed} not served by the local app).

### 3. Session creation (POST -> the router decides \`ready\`, read from the session item; polled every ${r.sessions.pollMs} ms; with and without ${r.sessions.delayMs} ms on each child.ready, alternating in the same worlds)

| workload clusters | cluster latency ms | sessions | median ms | min ms | max ms | median - latency (router time) | DynamoDB reads / session | writes / session | CPU ms / session |
|---|---|---|---|---|---|---|---|---|---|
${r.sessions.cases.map(sessionRow).join('\n')}

Ratio 10 / 1 (medians): **${f2(ratio)}** with ${r.sessions.delayMs} ms cluster latency, ${f2(ratioNoDelay)} with none.
DynamoDB calls are counted from the POST to \`ready\` (the polls' own token read and session query
taken off); CPU is the whole process's in that time, polls included.

### Goals

- At most 1 DynamoDB read per routed message without the cache: ${coldFig ? `${f3(coldFig.routingReadsPerMessage)} per message on a cold relay -> ${coldFig.routingReadsPerMessage <= 1 ? 'met' : '**NOT met**'}` : 'not measured'}.
- 0 reads per routed message with the cache: ${warmMessageReads} reads that came with messages over ${warmMessages} warm routed messages (${f3(warmMessages ? warmMessageReads / warmMessages : Number.NaN)} / message) -> ${warmMessageReads === 0 ? 'met' : '**NOT met**'}; ${warmFig.reduce((a, f) => a + f.timeBased, 0)} time-based reads besides (replica-set refresh, heartbeat), whatever the traffic.
- Session creation for 10 clusters within 1.5x of 1 cluster: x${f2(ratio)} -> ${ratio <= 1.5 ? 'met' : '**NOT met**'}.
- Added latency (no numeric goal): +${f2(r.sequential.routed.p50 - r.sequential.direct.p50)} ms at p50, +${f2(r.sequential.routed.p99 - r.sequential.direct.p99)} ms at p99, sequential; ${f2(c.cpu.routed)} CPU ms per routed request against ${f2(c.cpu.direct)} direct (${c.inFlight} in flight); throughput with ${c.inFlight} in flight x${f3(rpsRatio)} of direct.
`;
}
