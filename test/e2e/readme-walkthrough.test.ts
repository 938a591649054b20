import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/local-runtime.ts';
import { BIN, get } from './harness.ts';

const ROOT = join(import.meta.dirname, '../..');

/** The shell lines of the README's walkthrough, in order, comments split off. */
function walkthrough(readme: string): { command: string; comment: string }[] {
  const start = readme.indexOf('## A walkthrough');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const lines: { command: string; comment: string }[] = [];
  for (const block of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1]!.split('\n')) {
      if (!line.trim()) continue;
      // A comment starts at "  #" outside quotes (the commands here quote no "  #").
      const at = line.search(/\s{1,}# /);
      lines.push({
        command: (at === -1 ? line : line.slice(0, at)).trim(),
        comment: at === -1 ? '' : line.slice(at).replace(/^\s*#\s*/, ''),
      });
    }
  }
  return lines;
}

/** Splits a command line as sh does for the quoting the README uses ('…', "…", \n kept). */
function words(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: string | undefined;
  let any = false;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = undefined;
      else cur += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      any = true;
    } else if (/\s/.test(ch)) {
      if (cur || any) out.push(cur);
      cur = '';
      any = false;
    } else cur += ch;
  }
  if (cur || any) out.push(cur);
  return out;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

const listening = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => resolve(!!s.destroy()));
    s.once('error', () => resolve(false));
  });

/**
 * Every command of the README's walkthrough, taken from README.md, against `switchyard dev --demo`:
 * if the README changes, this runs the new commands. Ports the README fixes (3000, 15432) become
 * free ones, the ingress placeholders the demo's URLs, `switchyard` the repository's launcher.
 */
describe('the README walkthrough', () => {
  const steps = walkthrough(readFileSync(join(ROOT, 'README.md'), 'utf8'));
  let dir: string;
  let dev: ChildProcess;
  let ingress: Record<string, string>;
  let hasDatabase: boolean;
  const ports: Record<string, string> = {};
  const running: ChildProcess[] = [];
  const env = () => ({ ...process.env, SWITCHYARD_STATE_FILE: join(dir, 'local.json') });

  const substitute = (command: string) => {
    let out = command;
    for (const [fixed, free] of Object.entries(ports)) out = out.replaceAll(fixed, free);
    return out.replace(/127\.0\.0\.1:<(\w+) ingress>/g, (_, c: string) => ingress[c]!.replace('http://', ''));
  };
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [BIN, ...args], { env: env(), cwd: dir }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  const start = (args: string[]) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: env(),
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    return { child, output: () => out };
  };
  const stop = async (child: ChildProcess) => {
    if (child.exitCode !== null) return child.exitCode;
    child.kill('SIGINT');
    return new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-readme-'));
    ports['3000'] = String(await freePort());
    ports['15432'] = String(await freePort());
    expect(steps[0]?.command).toBe('npm start -- --demo');
    // `npm start -- --demo`, kept in memory on a free port so it touches nothing of the user's.
    dev = spawn(
      process.execPath,
      [BIN, 'dev', '--demo', '--memory', '--port', '0', '--state-file', join(dir, 'local.json')],
      { env: env(), stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    dev.stdout!.on('data', (d) => {
      out += d;
    });
    await eventually(() => out.includes('Demo clusters'), 60_000, 'the demo banner');
    const state = JSON.parse(readFileSync(join(dir, 'local.json'), 'utf8')) as {
      demo: { clusters: Record<string, { services: { api: { ingressUrl: string } } }> };
    };
    ingress = Object.fromEntries(
      Object.entries(state.demo.clusters).map(([id, c]) => [id, c.services.api.ingressUrl]),
    );
    hasDatabase = await listening(5432);
  }, 90_000);

  afterAll(async () => {
    for (const child of running) if (child.exitCode === null) child.kill('SIGKILL');
    if (dev?.exitCode === null) {
      dev.kill('SIGTERM');
      await new Promise((r) => dev.once('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('uses only commands this test knows how to check, and never npx', () => {
    expect(steps.length).toBeGreaterThan(10);
    for (const { command } of steps) {
      expect(command).toMatch(/^(npm start -- --demo|node -e |switchyard |curl )/);
      expect(command).not.toMatch(/\bnpx\b/);
    }
  });

  it('runs every command as written, in order, and each does what the README says', async () => {
    let app: ChildProcess | undefined;
    let intercept: ReturnType<typeof start> | undefined;
    for (const { command: raw, comment } of steps.slice(1)) {
      const command = substitute(raw);
      const argv = words(command.replace(/\s*&$/, ''));
      const what = `${raw}\n`;
      if (argv[0] === 'node') {
        // The local app, in the background as `&` runs it.
        app = spawn(process.execPath, argv.slice(1), { stdio: 'ignore' });
        running.push(app);
        await eventually(() => listening(Number(ports['3000'])), 10_000, 'the local app');
        continue;
      }
      if (argv[0] === 'curl') {
        const headers: Record<string, string> = {};
        const h = argv.indexOf('-H');
        if (h !== -1) {
          const [name, value] = argv[h + 1]!.split(/:\s*/);
          headers[name!] = value!;
        }
        const res = await get(argv.at(-1)!, headers);
        // The comment says what answers: "my laptop" or "hello from west".
        expect(res.text, what).toContain(comment.replace(/\s*\(.*\)$/, ''));
        continue;
      }
      const args = argv.slice(1);
      switch (args[0]) {
        case 'intercept': {
          intercept = start(args);
          await eventually(() => intercept!.output().includes('stealing api from east, west'), 30_000, what);
          break;
        }
        case 'env': {
          const r = await cli(args);
          expect(r.code, what + r.stderr).toBe(0);
          expect(r.stdout).toContain('GREETING=hello from east');
          break;
        }
        case 'exec': {
          if (args.includes('--branch') && !hasDatabase) break;
          const r = await cli(args);
          expect(r.code, what + r.stderr).toBe(0);
          if (args.includes('--branch')) expect(r.stdout).toMatch(/\b100\b/);
          else expect(r.stdout.trim()).toBe('hello from east');
          break;
        }
        case 'resolve': {
          const r = await cli(args);
          expect(r.code, what + r.stderr).toBe(0);
          expect(r.stdout.trim()).toBe('127.0.0.1');
          break;
        }
        case 'connect': {
          const tunnel = start(args);
          await eventually(() => tunnel.output().includes('through the default cluster'), 30_000, what);
          if (hasDatabase) {
            // PostgreSQL's SSLRequest: the server answers one byte, S or N, through the tunnel.
            const answer = await new Promise<string>((resolve, reject) => {
              const s = connect({ host: '127.0.0.1', port: Number(ports['15432']) }, () =>
                s.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])),
              );
              s.once('data', (d) => resolve(d.subarray(0, 1).toString()));
              s.once('error', reject);
            });
            expect(answer).toMatch(/^[SN]$/);
          }
          expect(await stop(tunnel.child)).toBe(0);
          expect(tunnel.output()).not.toMatch(/not allowed|cannot resolve/);
          break;
        }
        case 'sessions': {
          const r = await cli(args);
          expect(r.code, what + r.stderr).toBe(0);
          // The intercept's session is live.
          expect(r.stdout).toContain('intercept api');
          break;
        }
        case 'split': {
          const split = start(args);
          await eventually(() => split.output().includes('output queue:'), 30_000, what);
          expect(await stop(split.child)).toBe(0);
          break;
        }
        case 'branch': {
          if (!hasDatabase) break;
          const r = await cli(args);
          expect(r.code, what + r.stderr).toBe(0);
          break;
        }
        default:
          throw new Error(`the walkthrough has a command this test does not check: ${raw}`);
      }
    }
    expect(intercept, 'the walkthrough intercepts').toBeDefined();
    expect(await stop(intercept!.child)).toBe(0);
    app?.kill();
  }, 240_000);
});
