/**
 * Start-up time of the `switchyard` command, against `node -e 0` measured in the same rounds:
 *
 * - `--help`;
 * - `sessions` against a running local router (loopback);
 * - `intercept`: from the spawn to its first session request on the wire (a recording proxy in
 *   front of the router answers that request with a 503, so no session is left behind).
 *
 * Each is run as the installed package runs it (the bundle of `npm run build`) and, for reference,
 * as a contributor runs it in the repository (the TypeScript sources through tsx). Every round
 * runs each case once, in a shuffled order, so load from other work spreads over all of them.
 * Writes bench/results/cli.md.
 *
 *   npm run bench:cli [-- --runs 15]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { buildCliPackage, ROOT } from '../../infra/bundle/cli.ts';

const RUNS = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 15;
const RESULTS = join(ROOT, 'bench/results/cli.md');
const GOALS: Record<string, number> = { '--help': 150, sessions: 250 };

const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-cli-'));
const stateFile = join(dir, 'local.json');
const env = {
  ...process.env,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  SWITCHYARD_STATE_FILE: stateFile,
};

/** Milliseconds from spawn to exit (or to `until`, when given). */
function timed(
  args: string[],
  until?: Promise<void>,
  extraEnv: Record<string, string> = {},
): Promise<number> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: 'ignore', cwd: dir });
    const done = () => resolve(Number(process.hrtime.bigint() - start) / 1e6);
    if (until) {
      until.then(() => {
        done();
        child.kill('SIGKILL');
      }, reject);
    } else {
      child.on('exit', (code) =>
        code === 0 ? done() : reject(new Error(`${args.join(' ')} exited ${code}`)),
      );
    }
    child.on('error', reject);
  });
}

async function startRouter(): Promise<{ child: ChildProcess; httpUrl: string; wsUrl: string }> {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin/switchyard.js'), 'dev', '--memory', '--port', '0', '--state-file', stateFile],
    { env, stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT },
  );
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  for (let i = 0; i < 600 && !/Endpoints, tokens/.test(out); i++)
    await new Promise((r) => setTimeout(r, 100));
  const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { httpUrl: string; wsUrl: string };
  return { child, ...state };
}

/** Forwards to the router; answers the first session request itself and reports when it came. */
function recordingProxy(target: string) {
  let waiting: (() => void) | undefined;
  const server = createServer((req, res) => {
    if (req.method === 'POST' && req.url === '/v1/sessions') {
      waiting?.();
      waiting = undefined;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'bench', message: 'measured; no session made' } }));
      return;
    }
    const url = new URL(req.url ?? '/', target);
    const fwd = request(url, { method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(fwd);
  });
  return {
    server,
    nextSessionRequest: () => new Promise<void>((r) => (waiting = r)),
  };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
const shuffle = <T>(xs: T[]) => {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
};

const loadBefore = loadavg()
  .map((l) => l.toFixed(2))
  .join(', ');
process.stderr.write('building the package…\n');
await buildCliPackage(join(dir, 'package'));
const launchers = {
  bundle: join(dir, 'package/bin/switchyard.js'),
  'sources (tsx)': join(ROOT, 'bin/switchyard.js'),
};
const router = await startRouter();
const proxy = recordingProxy(router.httpUrl);
await new Promise<void>((r) => proxy.server.listen(0, '127.0.0.1', () => r()));
const proxyUrl = `http://127.0.0.1:${(proxy.server.address() as AddressInfo).port}`;

type Case = { name: string; how: string; run: () => Promise<number> };
const cases: Case[] = [{ name: 'node -e 0', how: 'baseline', run: () => timed(['-e', '0']) }];
for (const [how, bin] of Object.entries(launchers)) {
  cases.push(
    { name: '--help', how, run: () => timed([bin, '--help']) },
    { name: '--version', how, run: () => timed([bin, '--version']) },
    { name: 'sessions', how, run: () => timed([bin, 'sessions']) },
    {
      name: 'intercept → first request',
      how,
      run: () =>
        timed(
          [bin, 'intercept', 'api', '--to', '3000', '--router', proxyUrl, '--ws', router.wsUrl],
          proxy.nextSessionRequest(),
        ),
    },
  );
}

const samples = new Map<Case, number[]>(cases.map((c) => [c, []]));
// One warm-up round, not counted: the first spawn of each pays for the disk cache.
for (const c of cases) await c.run();
for (let round = 0; round < RUNS; round++) {
  for (const c of shuffle([...cases])) samples.get(c)!.push(await c.run());
  process.stderr.write(`round ${round + 1}/${RUNS}\n`);
}
router.child.kill('SIGTERM');
proxy.server.close();
const loadAfter = loadavg()
  .map((l) => l.toFixed(2))
  .join(', ');

const base = samples.get(cases[0]!)!;
const baseMedian = median(base);
const rows = cases.map((c) => {
  const xs = samples.get(c)!;
  const above = median(xs) - baseMedian;
  const goal = c.how === 'bundle' ? GOALS[c.name] : undefined;
  return `| \`${c.name}\` | ${c.how} | ${median(xs).toFixed(0)} | ${pct(xs, 0.9).toFixed(0)} | ${c === cases[0] ? '' : `+${above.toFixed(0)}`} | ${
    goal === undefined ? '' : `≤ +${goal}: ${above <= goal ? 'met' : 'missed'}`
  } |`;
});
const cpu = cpus();
const report = `# CLI start-up (\`npm run bench:cli\`)

Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${(
  totalmem() / 2 ** 30
).toFixed(
  0,
)} GiB, ${process.platform}, Node ${process.version}. Load average (1, 5, 15 min) at start ${loadBefore}, at end ${loadAfter}.
${RUNS} rounds after one warm-up; each round runs every case once, in a shuffled order. Milliseconds
from spawn to exit (\`intercept\`: to its session request arriving at a proxy in front of the router).
\`sessions\` and \`intercept\` talk to a local router (\`switchyard dev --memory\`) on loopback.

| command | run as | median ms | p90 ms | median above \`node -e 0\` | goal |
|---|---|---|---|---|---|
${rows.join('\n')}
`;
writeFileSync(RESULTS, report);
process.stdout.write(report);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
