import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { type ConnectorProcess, killConnector, startConnectorProcess } from './connector-process.ts';
import { type CliRun, cli, get, listen, namedServer } from './harness.ts';

const DRAIN_MS = 300;
const GRACE_MS = 3_000;

/**
 * A replica gets SIGTERM while a stolen request waits for a developer who never answers: the
 * request is handed back to the upstream before the grace period ends, and the client gets
 * the upstream's answer instead of a cut connection.
 */
describe('connector shutdown with a stolen request in flight', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-drain-steal-'));
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => {
    for (const step of cleanup.splice(0).reverse()) {
      try {
        await step();
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands it back to the upstream and exits 0 within the grace period', async () => {
    const rt: TestRuntime = await startTestRuntime({
      topology: {
        region: 'us-east-1',
        clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
      },
    });
    cleanup.push(() => rt.stop());
    const upstream = namedServer('upstream');
    // The developer's app takes the request and never answers.
    const reached: string[] = [];
    const app: Server = createServer((req) => reached.push(req.url ?? ''));
    cleanup.push(() => {
      for (const s of [upstream, app]) {
        s.closeAllConnections();
        s.close();
      }
    });
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, rt.clusterTokens.east!, { mode: 0o600 });
    const replica: ConnectorProcess = await startConnectorProcess({
      dir,
      name: 'east-1',
      router: rt.wsUrl,
      cluster: 'east',
      tokenFile,
      upstream: `http://127.0.0.1:${await listen(upstream)}`,
      drainMs: DRAIN_MS,
      graceMs: GRACE_MS,
      // Far longer than the grace period: only the shutdown can end the wait.
      requestDeadlineMs: 60_000,
    });
    cleanup.push(() => killConnector(replica));
    const intercept: CliRun = cli(rt, [
      'intercept',
      'api',
      '--to',
      String(await listen(app)),
      '--header',
      'x-dev=me',
    ]);
    cleanup.push(async () => {
      intercept.child.kill('SIGINT');
      await intercept.exited;
    });
    await intercept.waitFor(/session (\w+): Ctrl-C/, 'stderr', 30_000);

    const stolen = get(`${replica.ingressUrl}/slow-developer`, { 'x-dev': 'me' });
    await eventually(() => reached.includes('/slow-developer'), 5_000, 'the stolen request to reach the app');
    const term = Date.now();
    replica.child.kill('SIGTERM');
    const answer = await stolen;
    const answeredAt = Date.now();
    const exit = await replica.exited;

    expect(answer).toMatchObject({ status: 200, servedBy: 'upstream' });
    expect(answer.text).toBe('upstream GET /slow-developer');
    expect(answeredAt).toBeLessThanOrEqual(exit.at);
    expect(exit.code).toBe(0);
    expect(exit.at - term).toBeLessThan(GRACE_MS);
  });
});
