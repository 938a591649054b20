/**
 * What SIGKILLing a router worker of `switchyard dev --replicas N` costs, with the default settings
 * (lease 15 s, renewal 5 s, reconciler every 5 s; connectors' request deadline 10 s): two clusters'
 * traffic stolen into one local app, the worker holding the CLI's connection killed, then the
 * worker holding the reconciler lease (when that was another one). Every request is accounted for.
 *
 *   npx tsx bench/failover/run.ts [--trials 3] [--replicas 2] [--short] [--trace]
 *
 * --short uses the e2e test's settings (lease 3 s, renewal 1 s, reconciler every 0.5 s, deadline 2 s).
 * Prints a markdown table (for bench/results/failover.md).
 */
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { type FailoverReport, runFailover } from '../../test/e2e/failover-scenario.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({
  options: {
    trials: { type: 'string', default: '3' },
    replicas: { type: 'string', default: '2' },
    short: { type: 'boolean', default: false },
    trace: { type: 'boolean', default: false },
  },
});
const trials = Number(values.trials);
const replicas = Number(values.replicas);
const short = values.short === true;

const reports: FailoverReport[] = [];
for (let i = 1; i <= trials; i++) {
  process.stderr.write(`trial ${i}/${trials}\n`);
  reports.push(
    await runFailover({
      replicas,
      ...(short
        ? { settings: { leaseMs: 3000, renewMs: 1000, reconcileEveryMs: 500 }, requestDeadlineMs: 2000 }
        : { requestDeadlineMs: 10_000 }),
      trace: values.trace === true,
      log: (line) => process.stderr.write(`  ${line}\n`),
    }),
  );
}

const ms = (n: number | undefined) => (n === undefined ? '-' : `${(n / 1000).toFixed(2)} s`);
const rows: string[] = [];
const resumes: number[] = [];
const cliResumes: number[] = [];
const failovers: number[] = [];
reports.forEach((r, i) => {
  for (const k of r.kills) {
    const local = k.resumeMs ? Math.max(...Object.values(k.resumeMs)) : undefined;
    if (k.held.client && local !== undefined) resumes.push(local);
    if (k.cliResumedMs !== undefined) cliResumes.push(k.cliResumedMs);
    if (k.leaseFailoverMs !== undefined) failovers.push(k.leaseFailoverMs);
    const held =
      [k.held.client ? 'CLI connection' : '', k.held.lease ? 'lease' : ''].filter(Boolean).join(' + ') ||
      'nothing';
    rows.push(
      `| ${i + 1} | ${held} | ${ms(k.cliResumedMs)} | ${local === undefined ? '-' : ms(local)} | ${ms(k.leaseFailoverMs)} | ${k.tokens ? `${k.tokens[0]} → ${k.tokens[1]}` : '-'} |`,
    );
  }
});
const range = (xs: number[]) =>
  xs.length ? `${ms(Math.min(...xs))} to ${ms(Math.max(...xs))} (${xs.length} kills)` : 'not measured';

const out = [
  `Settings: ${short ? 'lease 3 s, renewal 1 s, reconciler every 0.5 s, request deadline 2 s' : 'defaults (lease 15 s, renewal 5 s, reconciler every 5 s), request deadline 10 s'}; ${replicas} replicas; requests every 100 ms to each of two clusters.`,
  `Machine: ${cpus().length} x ${cpus()[0]?.model ?? 'CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.version}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ')} when the run ended.`,
  '',
  '| trial | the killed worker held | CLI resumed | local app answers again | lease taken over | token |',
  '|---|---|---|---|---|---|',
  ...rows,
  '',
  `- CLI resumed its session (kill -> "reconnected"): ${range(cliResumes)}`,
  `- local app answering both clusters again (kill -> first answer to a request sent after the kill): ${range(resumes)}`,
  `- duties failover (kill -> another worker's acquire of the lease): ${range(failovers)}`,
  `- requests: ${reports.reduce((n, r) => n + r.requests.sent, 0)} sent, ${reports.reduce((n, r) => n + r.requests.local, 0)} answered by the local app, ${reports.reduce((n, r) => n + r.requests.upstream, 0)} by the upstream, ${reports.reduce((n, r) => n + r.requests.lost, 0)} lost`,
  `- sessions: the same session resumed in ${reports.filter((r) => r.resumedSameSession).length} of ${reports.length} trials; items with a stale fence: ${reports.reduce((n, r) => n + r.staleFencedItems, 0)}`,
];
process.stdout.write(`${out.join('\n')}\n`);
