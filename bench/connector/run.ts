/**
 * The connector as a reverse proxy, against the same small service reached directly and through
 * nginx, interleaved in one run (the machine is shared: ratios within a run are the figures).
 *
 *   npm run bench:connector [-- --rounds 3 --seconds 4 --profile --source --out bench/results/connector.md]
 *
 * The connector runs as it ships (the package's bundle, plain Node); `--source` runs its
 * TypeScript through tsx instead.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { cliBuildOptions } from '../../infra/bundle/cli.ts';
import { machine } from '../routing/machine.ts';
import { type CannonResult, cannon, sequentialMicros } from './load.ts';
import { NGINX_INSTALL, startNginx } from './nginx.ts';
import { pinCpus } from './pin.ts';
import { cpuSeconds, rssBytes } from './proc.ts';
import { profileBreakdown } from './profile.ts';
import { FLOOR_NAME, type PathResult, type Report, renderReport } from './report.ts';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    sequential: { type: 'string', default: '2000' },
    stream: { type: 'string', default: String(1024 ** 3) },
    out: { type: 'string', default: 'bench/results/connector.md' },
    /** Also record a CPU profile of the pass-through connector and break it down in the report. */
    profile: { type: 'boolean', default: false },
    /** Run the connector from its TypeScript sources (through tsx) instead of as it ships, bundled. */
    source: { type: 'boolean', default: false },
    /**
     * Give the proxies a core of their own (pin.ts). Off by default: pinned apart, every message
     * crosses cores, and nginx's CPU per request doubled in a trial, so pinned ratios flatter.
     */
    pin: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const SECONDS = Number(args.seconds);
const SEQUENTIAL = Number(args.sequential);
const STREAM_BYTES = Number(args.stream);
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

const fromSource = args.source || args.profile;
const profileDir = args.profile ? mkdtempSync(join(tmpdir(), 'bench-connector-prof-')) : undefined;

/**
 * The connector's process as it ships: bundled and minified with the options of the package's
 * build (`npm run build`), run by plain Node with no TypeScript loader.
 */
async function bundled(): Promise<{ connector: string; floor: string }> {
  const outdir = mkdtempSync(join(tmpdir(), 'bench-connector-bundle-'));
  const options = cliBuildOptions(outdir);
  await build({
    ...options,
    entryPoints: {
      'connector-process': here('connector-process.ts'),
      'node-floor': here('node-floor.ts'),
    },
    splitting: false,
    metafile: false,
    sourcemap: false,
  });
  return { connector: join(outdir, 'connector-process.mjs'), floor: join(outdir, 'node-floor.mjs') };
}

async function child(
  file: string,
  argv: string[],
  extraExecArgv: string[] = [],
): Promise<{ proc: ChildProcess; msg: Record<string, unknown> }> {
  const bundled = file.endsWith('.mjs');
  const proc = fork(bundled ? file : here(file), argv, {
    execArgv: [...(bundled ? [] : ['--import', 'tsx']), ...extraExecArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [msg] = (await once(proc, 'message')) as [Record<string, unknown>];
  return { proc, msg };
}

interface Path {
  name: string;
  url: string;
  /** The proxy's process, whose CPU is counted; none for the direct path. */
  pid?: number;
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const m = machine();
  const service = await child('service.ts', []);
  const serviceUrl = `http://127.0.0.1:${service.msg.port}`;
  // A profile names functions by their source file, which a bundle would hide: it runs from sources.
  const files = fromSource ? { connector: 'connector-process.ts', floor: 'node-floor.ts' } : await bundled();
  const connectorFile = files.connector;
  const plain = await child(
    connectorFile,
    [serviceUrl, '0'],
    profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  );
  const busy = await child(connectorFile, [serviceUrl, '100']);
  const floor = await child(files.floor, [serviceUrl]);
  if (busy.msg.matchedByBenchRequest) throw new Error('a benchmark session matches the benchmark request');
  const nginx = await startNginx(Number(service.msg.port));
  const placement = !args.pin
    ? 'processes placed by the scheduler (not pinned)'
    : pinCpus(
        [process.pid, service.proc.pid!],
        [plain.proc.pid!, busy.proc.pid!, floor.proc.pid!, ...(nginx ? [nginx.pid, nginx.workerPid] : [])],
      );
  process.stderr.write(`${placement}\n`);
  if (!nginx)
    process.stderr.write(`nginx is not installed: its row is skipped. Install it with\n  ${NGINX_INSTALL}\n`);

  const route = '/orders/42';
  const paths: Path[] = [
    { name: 'direct', url: `${serviceUrl}${route}` },
    { name: 'connector', url: `http://127.0.0.1:${plain.msg.port}${route}`, pid: plain.proc.pid! },
    {
      name: 'connector, 100 sessions (none match)',
      url: `http://127.0.0.1:${busy.msg.port}${route}`,
      pid: busy.proc.pid!,
    },
    {
      name: `${FLOOR_NAME} (Node's HTTP server + the connector's upstream client, nothing else)`,
      url: `http://127.0.0.1:${floor.msg.port}${route}`,
      pid: floor.proc.pid!,
    },
    ...(nginx
      ? [
          {
            name: 'nginx (1 worker, upstream keepalive)',
            url: `http://127.0.0.1:${nginx.port}${route}`,
            pid: nginx.workerPid,
          },
        ]
      : []),
  ];

  const results = new Map<string, PathResult>(
    paths.map((p) => [
      p.name,
      { name: p.name, c1: [], c20: [], cpuSeconds: 0, cpuRequests: 0, sequential: [] },
    ]),
  );
  process.stderr.write('warming up\n');
  for (const p of paths) await cannon(p.url, 20, 1);

  for (let round = 0; round < ROUNDS; round++) {
    // Each round starts with a different path, so no path always runs first (or last).
    const order = paths.map((_, i) => paths[(i + round) % paths.length]!);
    for (const connections of [1, 20] as const) {
      for (const p of order) {
        const cpu0 = p.pid ? cpuSeconds(p.pid) : 0;
        const r: CannonResult = await cannon(p.url, connections, SECONDS);
        const res = results.get(p.name)!;
        (connections === 1 ? res.c1 : res.c20).push(r);
        if (p.pid) {
          res.cpuSeconds += cpuSeconds(p.pid) - cpu0;
          res.cpuRequests += r.requests;
        }
        process.stderr.write(
          `round ${round + 1} ${connections} client(s) ${p.name}: ${Math.round(r.rps)} req/s p99 ${r.p99} ms, failed ${r.failed}\n`,
        );
      }
    }
    for (const p of order) {
      results.get(p.name)!.sequential.push(...(await sequentialMicros(p.url, SEQUENTIAL / ROUNDS)));
    }
  }

  process.stderr.write(`streaming ${STREAM_BYTES} bytes through the connector\n`);
  const stream = await streamThrough(
    `http://127.0.0.1:${plain.msg.port}/bytes/${STREAM_BYTES}`,
    plain.proc.pid!,
  );

  const plainExited = once(plain.proc, 'exit');
  for (const c of [plain.proc, busy.proc, floor.proc, service.proc]) c.disconnect();
  nginx?.stop();
  // The profile is written as the process exits.
  await plainExited;

  const report: Report = {
    startedAt,
    seconds: (Date.now() - startedAt.getTime()) / 1000,
    machine: m,
    command: `npm run bench:connector ${process.argv.slice(2).join(' ')}`.trim(),
    rounds: ROUNDS,
    secondsPerRun: SECONDS,
    paths: [...results.values()],
    stream,
    nginxMissing: nginx ? undefined : NGINX_INSTALL,
    ...(profileDir ? { profile: profileBreakdown(profileDir) } : {}),
    ...(fromSource ? { fromSource: true } : {}),
    placement,
  };
  const markdown = renderReport(report);
  writeFileSync(args.out!, markdown);
  process.stdout.write(markdown);
}

/** Downloads `url` through the connector, sampling the connector's RSS as it goes. */
async function streamThrough(url: string, pid: number): Promise<Report['stream']> {
  const before = rssBytes(pid);
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(pid));
  }, 10);
  const t0 = Date.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    request(url, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => {
        n += c.length;
      });
      res.on('end', () => resolve(n));
      res.on('error', reject);
    })
      .on('error', reject)
      .end();
  });
  clearInterval(sampler);
  peak = Math.max(peak, rssBytes(pid));
  return { bytes, seconds: (Date.now() - t0) / 1000, rssBefore: before, rssPeak: peak };
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : err}\n`);
  process.exit(1);
});
