import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../../bin/switchyard.js');

/** `switchyard dev` as a user runs it, in a temp working directory. */
function dev(
  cwd: string,
  args: string[],
): { child: ChildProcess; stdout: () => string; stderr: () => string; exit: Promise<number | null> } {
  // The flags decide the port, not a SWITCHYARD_PORT the test runner may have.
  const { SWITCHYARD_PORT: _ignored, ...env } = process.env;
  const child = spawn(process.execPath, [BIN, 'dev', ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString();
  });
  const exit = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

describe('switchyard dev (the command)', () => {
  const cwd = mkdtempSync(join(tmpdir(), 'switchyard-cli-'));
  afterAll(() => rmSync(cwd, { recursive: true, force: true }));

  it('refuses an invalid topology with the rule message, exit code 1 and no stack trace', async () => {
    writeFileSync(
      join(cwd, 'bad.json'),
      JSON.stringify({ clusters: [{ id: 'east', roles: ['workload', 'default'] }] }),
    );
    const run = dev(cwd, ['--config', 'bad.json', '--memory', '--port', '0']);
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toContain('[one-primary]');
    expect(run.stderr()).toContain('add "primary" to the roles of exactly one cluster');
    expect(run.stderr()).not.toMatch(/^\s+at /m);
  });

  it('refuses a missing config file, saying how to give one', async () => {
    const run = dev(cwd, ['--memory', '--port', '0']);
    expect(await run.exit).toBe(1);
    expect(run.stderr()).toContain('switchyard.config.json');
    expect(run.stderr()).toContain('--config <file>');
  });

  it('starts, prints the banner, writes local.json (0600), and stops cleanly on SIGTERM', async () => {
    writeFileSync(
      join(cwd, 'switchyard.config.json'),
      JSON.stringify({ clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }] }),
    );
    const run = dev(cwd, ['--port', '0']);
    try {
      const deadline = Date.now() + 20_000;
      while (!run.stdout().includes('Ctrl-C stops it.') && Date.now() < deadline) {
        if (run.child.exitCode !== null) throw new Error(`dev exited early: ${run.stderr()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const state = JSON.parse(readFileSync(join(cwd, '.switchyard/local.json'), 'utf8'));
      expect(statSync(join(cwd, '.switchyard/local.json')).mode & 0o777).toBe(0o600);
      expect(run.stdout()).toMatch(/ready in \d+ ms/);
      expect(run.stdout()).toContain(state.httpUrl);
      expect(run.stdout()).toContain(
        `curl -H "Authorization: Bearer ${state.developerToken}" ${state.httpUrl}/v1/clusters`,
      );
      // The cluster tokens stay in the file; only the developer's own token is shown.
      expect(run.stdout()).not.toContain(state.clusters.east.token);
      expect(state.dataDir).toBe(join(cwd, '.switchyard/data'));
      expect((await fetch(`${state.httpUrl}/healthz`)).status).toBe(200);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exit).toBe(0);
    // The data dir lock is released on a clean stop.
    expect(() => statSync(join(cwd, '.switchyard/data/switchyard.pid'))).toThrow();
  });
});
