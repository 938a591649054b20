import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCliPackage, CLI_ENTRY_OUT, PACKAGE_NAME, ROOT } from '../../infra/bundle/cli.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { get, listen, namedServer } from './harness.ts';

/**
 * The package as a user gets it: built, packed by `npm pack`, installed offline with
 * `npm install -g` into an empty prefix, run from there, outside the repository.
 */
describe('the switchyard-router package', () => {
  let dir: string;
  let pkgDir: string;
  let metafile: Metafile;
  let tarballFiles: string[];
  let bin: string;
  const run = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => {
    try {
      const stdout = execFileSync(bin, args, {
        cwd,
        env: { PATH: process.env.PATH, HOME: dir, ...env },
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return { code: 0, stdout, stderr: '' };
    } catch (err) {
      const e = err as { status: number; stdout: string; stderr: string };
      return { code: e.status, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-package-'));
    pkgDir = join(dir, 'package');
    metafile = await buildCliPackage(pkgDir);
    const npmEnv = {
      ...process.env,
      npm_config_cache: join(dir, 'npm-cache'),
      npm_config_update_notifier: 'false',
    };
    const packed = JSON.parse(
      execFileSync('npm', ['pack', pkgDir, '--json', '--pack-destination', dir], {
        encoding: 'utf8',
        env: npmEnv,
      }),
    ) as [{ filename: string; files: { path: string }[] }];
    tarballFiles = packed[0].files.map((f) => f.path);
    execFileSync(
      'npm',
      [
        'install',
        '-g',
        '--offline',
        '--no-audit',
        '--no-fund',
        '--prefix',
        join(dir, 'prefix'),
        join(dir, packed[0].filename),
      ],
      { env: npmEnv, stdio: 'ignore' },
    );
    bin = join(dir, 'prefix', 'bin', 'switchyard');
  }, 120_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('holds the launcher and the bundle, and no sources, tests, benchmarks or docs', () => {
    expect(tarballFiles).toContain('bin/switchyard.js');
    expect(tarballFiles).toContain(CLI_ENTRY_OUT);
    expect(tarballFiles).toContain('package.json');
    expect(
      tarballFiles.filter((f) => /^(test|bench|docs|cli|shared|connector|infra|functions)\//.test(f)),
    ).toEqual([]);
    expect(tarballFiles.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('installs offline as a `switchyard` command on the PATH that runs outside the repository', () => {
    const outside = mkdtempSync(join(tmpdir(), 'switchyard-elsewhere-'));
    try {
      const version = run(['--version'], outside);
      expect(version.code).toBe(0);
      expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      const help = run(['--help'], outside);
      expect(help.stdout).toContain('intercept');
      expect(help.stdout).toContain('--state-file');
      const noRouter = run(['sessions'], outside);
      expect(noRouter.code).toBe(1);
      expect(noRouter.stderr).toContain('no router to talk to');
    } finally {
      rmSync(outside, { recursive: true, force: true });
    }
  });

  it('loads each command’s code only for that command: no AWS SDK for intercept, no pg for sessions', () => {
    const closure = (entryPoint: string) => {
      const start = Object.entries(metafile.outputs).find(([, o]) => o.entryPoint === entryPoint)?.[0];
      expect(start, `a chunk for ${entryPoint}`).toBeDefined();
      const inputs = new Set<string>();
      const seen = new Set<string>();
      const visit = (file: string) => {
        if (seen.has(file)) return;
        seen.add(file);
        const out = metafile.outputs[file]!;
        for (const input of Object.keys(out.inputs)) inputs.add(input);
        for (const imp of out.imports) if (imp.kind === 'import-statement' && !imp.external) visit(imp.path);
      };
      visit(start!);
      return [...inputs];
    };
    const rel = (f: string) => relative(process.cwd(), join(ROOT, f));
    const main = closure(rel('cli/main.ts'));
    expect(main.filter((f) => f.includes('cli/commands/'))).toEqual([]);
    expect(main.filter((f) => f.includes('node_modules/') && !f.includes('node_modules/commander/'))).toEqual(
      [],
    );
    const intercept = closure(rel('cli/commands/intercept.ts'));
    expect(intercept.some((f) => f.includes('node_modules/ws/'))).toBe(true);
    expect(intercept.filter((f) => f.includes('node_modules/@aws-sdk/'))).toEqual([]);
    // `sessions` (in stateful.ts) only lists: no database driver, SDK, WebSocket or schema library.
    const stateful = closure(rel('cli/commands/stateful.ts'));
    expect(
      stateful.filter((f) => /node_modules\/(pg|pg-[a-z]+|mysql2|@aws-sdk\/[^/]+|ws|zod|re2js)\//.test(f)),
    ).toEqual([]);
  });

  describe('the bundled connector, read-only and unprivileged', () => {
    let runtime: TestRuntime;
    let connector: ChildProcess | undefined;
    const upstream = namedServer('upstream-east');

    beforeAll(async () => {
      runtime = await startTestRuntime();
    }, 60_000);
    afterAll(async () => {
      connector?.kill('SIGKILL');
      upstream.close();
      await runtime?.stop();
    });

    it('serves its ingress as an unprivileged uid (65534 when run as root) from a read-only directory, with no writable TMPDIR or HOME', async () => {
      // As the image runs it: the package alone, owned by root, not writable by the user that runs.
      const app = join(dir, 'readonly');
      cpSync(pkgDir, join(app, 'app'), { recursive: true });
      const upstreamPort = await listen(upstream);
      writeFileSync(
        join(app, 'connector.json'),
        JSON.stringify({
          services: [
            {
              name: 'api',
              ingress: { port: 0, host: '127.0.0.1' },
              upstream: `http://127.0.0.1:${upstreamPort}`,
            },
          ],
          outgoing: { allow: [] },
        }),
      );
      writeFileSync(join(app, 'token'), runtime.clusterTokens.east!);
      mkdirSync(join(app, 'tmp'));
      chmodSync(dir, 0o755);
      execFileSync('chmod', ['-R', 'a+rX,a-w', app]);
      const before = readdirSync(app, { recursive: true }).sort();

      // As root, drop to nobody (65534), as the image's non-root user; as any other user the
      // chmod above already leaves nothing writable to it.
      const asNobody =
        process.getuid?.() === 0 ? ['--reuid=65534', '--regid=65534', '--clear-groups', '--'] : [];
      connector = spawn(
        asNobody.length ? 'setpriv' : process.execPath,
        [
          ...asNobody,
          ...(asNobody.length ? [process.execPath] : []),
          join(app, 'app/bin/switchyard.js'),
          'connector',
          '--router',
          runtime.wsUrl,
          '--cluster',
          'east',
          '--token-file',
          join(app, 'token'),
          '--config',
          join(app, 'connector.json'),
        ],
        {
          cwd: app,
          env: { PATH: process.env.PATH, HOME: join(app, 'home-absent'), TMPDIR: join(app, 'tmp') },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let err = '';
      connector.stderr!.on('data', (d) => {
        err += d;
      });
      const port = await eventually(
        () =>
          err.match(/service api ingress on port (\d+)/)?.[1] ??
          (connector!.exitCode !== null && Promise.reject(new Error(err))),
        30_000,
        'the connector to listen',
      );
      // setpriv execs node in its own process: that process runs as nobody.
      if (asNobody.length)
        expect(readFileSync(`/proc/${connector.pid}/status`, 'utf8')).toMatch(/^Uid:\s+65534\s/m);
      expect((await get(`http://127.0.0.1:${port}/hello`)).servedBy).toBe('upstream-east');
      const clusters = await eventually(
        async () => {
          const res = await fetch(`${runtime.httpUrl}/v1/clusters`, {
            headers: { authorization: `Bearer ${runtime.developerToken}` },
          });
          const body = (await res.json()) as { clusters: { id: string; connected: boolean }[] };
          return body.clusters.find((c) => c.id === 'east' && c.connected);
        },
        20_000,
        'the connector to connect',
      );
      expect(clusters.connected).toBe(true);
      expect(readdirSync(app, { recursive: true }).sort()).toEqual(before);
      expect(err).not.toMatch(/EACCES|EROFS/);
    }, 60_000);
  });
});

// The package name is the one the docs tell users to install; `npx switchyard` would fetch another.
it('is the name README.md tells users to install, and no doc runs `npx switchyard`', () => {
  const docs = ['README.md', 'docs/cli.md', 'docs/deploy.md', 'docs/local-runtime.md'].map((f) =>
    readFileSync(join(ROOT, f), 'utf8'),
  );
  expect(docs[0]).toContain(`npm install -g ${PACKAGE_NAME}`);
  for (const doc of docs) expect(doc).not.toMatch(/npx switchyard\b/);
});
