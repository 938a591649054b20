import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateToken } from '../../shared/auth/tokens.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import {
  type ConnectorProcess,
  killConnector,
  requestLoop,
  startConnectorProcess,
} from './connector-process.ts';
import { type CliRun, cli, get, listen, namedServer } from './harness.ts';

const ONE_CLUSTER = {
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
};

/**
 * The router goes away mid-session, and a connector starts whose token the router refuses:
 * production traffic never notices, `/readyz` says why no session is served, and the session
 * carries on once the router is back.
 */
describe('connector fail-open', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-fail-open-'));
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const server = async (name: string): Promise<string> => {
    const s: Server = namedServer(name);
    cleanup.push(() => {
      s.closeAllConnections();
      s.close();
    });
    return `http://127.0.0.1:${await listen(s)}`;
  };
  const connector = async (name: string, rt: TestRuntime, tokenFile: string): Promise<ConnectorProcess> => {
    const p = await startConnectorProcess({
      dir,
      name,
      router: rt.wsUrl,
      cluster: 'east',
      tokenFile,
      upstream: await server('upstream'),
    });
    cleanup.push(() => killConnector(p));
    return p;
  };
  const routerState = async (p: ConnectorProcess, state: string) =>
    eventually(
      async () => {
        const r = await p.readyz();
        return r.body.router.state === state ? r : undefined;
      },
      15_000,
      `router: ${state} in ${p.adminUrl}/readyz`,
    );

  it('passes traffic through while the router is away or refuses the token; the session resumes', async () => {
    const first: TestRuntime = await startTestRuntime({ dir, memory: false, topology: ONE_CLUSTER });
    let runtime: TestRuntime | undefined = first;
    cleanup.push(() => runtime?.stop());
    const port = Number(new URL(first.httpUrl).port);
    const goodToken = join(dir, 'good-token');
    writeFileSync(goodToken, first.clusterTokens.east!, { mode: 0o600 });
    const good = await connector('good', first, goodToken);
    await routerState(good, 'connected');

    const appPort = await listen(namedServer('local-app'));
    const intercept: CliRun = cli(first, [
      'intercept',
      'api',
      '--to',
      String(appPort),
      '--header',
      'x-dev=^me$',
    ]);
    cleanup.push(async () => {
      intercept.child.kill('SIGINT');
      await intercept.exited;
    });
    await intercept.waitFor(/session (\w+): Ctrl-C/, 'stderr', 30_000);
    expect((await get(`${good.ingressUrl}/before`, { 'x-dev': 'me' })).servedBy).toBe('local-app');

    // The router goes away: every request is still served, the stolen ones by the upstream.
    await first.stop();
    runtime = undefined;
    const away = await routerState(good, 'unreachable');
    expect(away.status).toBe(200);
    expect(away.body).toMatchObject({ ready: true, detail: expect.stringContaining('router: unreachable') });
    const plain = requestLoop(() => `${good.ingressUrl}/plain`, 2);
    const matching = requestLoop(() => `${good.ingressUrl}/mine`, 2, { 'x-dev': 'me' });

    // A connector whose token is not (or no longer) registered starts meanwhile, and serves too.
    const wrongToken = join(dir, 'wrong-token');
    writeFileSync(wrongToken, generateToken('cluster'), { mode: 0o600 });
    const refused = await connector('refused', first, wrongToken);
    const refusedLoop = requestLoop(() => `${refused.ingressUrl}/plain`, 2);

    // The router is back, on the same port and data: it refuses one connector, resumes the other.
    runtime = await startTestRuntime({ dir, memory: false, port, topology: ONE_CLUSTER });
    const refusal = await routerState(refused, 'refused');
    expect(refusal.status).toBe(200);
    expect(refusal.body.router.refused?.status).toBe(401);
    expect(refusal.body.detail).toContain('router: refused');
    await routerState(good, 'connected');
    await eventually(
      async () => (await get(`${good.ingressUrl}/after`, { 'x-dev': 'me' })).servedBy === 'local-app',
      20_000,
      'the session to steal again',
    );
    const records = [...(await plain.stop()), ...(await matching.stop()), ...(await refusedLoop.stop())];
    expect(records.length).toBeGreaterThan(20);
    expect(records.filter((r) => !r.ok)).toEqual([]);
    expect(refused.child.exitCode).toBeNull();
    const log = refused.stderr();
    expect(log).toMatch(/FAIL-OPEN: the router refuses this connector/);
    expect(log).not.toContain(runtime.clusterTokens.east!);

    // The Secret is rotated in place: the next dial reads the file and gets in, no restart.
    writeFileSync(wrongToken, runtime.clusterTokens.east!);
    await routerState(refused, 'connected');
  });
});
