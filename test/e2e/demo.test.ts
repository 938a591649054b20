import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/local-runtime.ts';
import { BIN, get, listen, namedServer } from './harness.ts';

/** The README walkthrough, as a user runs it: `switchyard dev --demo`, then the CLI with no flags. */
describe('switchyard dev --demo', () => {
  let dir: string;
  let dev: ChildProcess;
  let state: {
    httpUrl: string;
    demo: { clusters: Record<string, { services: { api: { ingressUrl: string } } }> };
  };
  const env = () => ({
    ...process.env,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    SWITCHYARD_STATE_FILE: join(dir, 'local.json'),
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-demo-'));
    dev = spawn(
      process.execPath,
      [BIN, 'dev', '--demo', '--memory', '--port', '0', '--state-file', join(dir, 'local.json')],
      {
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    dev.stdout!.on('data', (d) => {
      out += d;
    });
    await eventually(() => out.includes('Demo clusters'), 30_000, 'the demo banner');
    expect(existsSync(join(dir, 'local.json'))).toBe(true);
    state = JSON.parse(readFileSync(join(dir, 'local.json'), 'utf8'));
  });

  afterAll(async () => {
    if (dev && dev.exitCode === null) {
      dev.kill('SIGTERM');
      await new Promise((r) => dev.on('exit', r));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('records each demo cluster’s api ingress, and each answers with its name', async () => {
    expect(Object.keys(state.demo.clusters).sort()).toEqual(['east', 'west']);
    const west = await get(`${state.demo.clusters.west!.services.api.ingressUrl}/hello`);
    expect(west.text).toContain('hello from west');
  });

  it('intercepts api by header from both clusters into a local app, found through local.json', async () => {
    const app = namedServer('my-laptop');
    const port = await listen(app);
    const cli = spawn(
      process.execPath,
      [BIN, 'intercept', 'api', '--to', String(port), '--header', 'x-dev=me'],
      {
        env: env(),
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let err = '';
    cli.stderr!.on('data', (d) => {
      err += d;
    });
    try {
      await eventually(
        () => err.includes('stealing api from east, west'),
        30_000,
        `the intercept to start\n${err}`,
      );
      for (const id of ['east', 'west']) {
        const url = `${state.demo.clusters[id]!.services.api.ingressUrl}/hello`;
        expect((await get(url, { 'x-dev': 'me' })).servedBy).toBe('my-laptop');
        expect((await get(url)).text).toContain(`hello from ${id}`);
      }
    } finally {
      cli.kill('SIGINT');
      await new Promise((r) => cli.on('exit', r));
      app.close();
    }
  });
});
