import { createServer, type Server } from 'node:http';
import { connect, createServer as createTcpServer, type Socket, type Server as TcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { api, type CliRun, cli, get, listen, startCluster, stopRuns, type TestCluster } from './harness.ts';

/**
 * Resume after a dropped connection, driven through a TCP proxy the test can cut: the CLI and a
 * connector reconnect to the same URL and carry on with the same session; a session that ended
 * meanwhile is refused with 410 and the CLI exits 3 instead of hanging.
 */

/** A TCP proxy in front of the router: `cut()` drops every connection, `refuse()` turns new ones away. */
class CuttableProxy {
  private server?: TcpServer;
  private readonly sockets = new Set<Socket>();
  private refusing = false;
  port = 0;

  constructor(private readonly target: number) {}

  async start(): Promise<this> {
    this.server = createTcpServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = connect(this.target, '127.0.0.1');
      for (const [a, b] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        a.pipe(b);
        a.on('error', () => b.destroy());
        a.on('close', () => b.destroy());
        this.sockets.add(a);
        a.on('close', () => this.sockets.delete(a));
      }
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server!.address() as { port: number }).port;
    return this;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  refuse(on: boolean): void {
    this.refusing = on;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server?.close(r));
  }
}

let runtime: TestRuntime;
let east: TestCluster;
let proxy: CuttableProxy;
/** The runtime as the CLI sees it: HTTP direct, WebSocket through the proxy. */
let proxied: TestRuntime;
const running: CliRun[] = [];

beforeAll(async () => {
  runtime = await startTestRuntime({
    topology: { region: 'us-east-1', clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }] },
  });
  proxy = await new CuttableProxy(Number(new URL(runtime.httpUrl).port)).start();
  proxied = { ...runtime, wsUrl: `ws://127.0.0.1:${proxy.port}/ws` } as TestRuntime;
  // A long deadline: an answer held over a drop must beat it.
  east = await startCluster(runtime, 'east', { requestDeadlineMs: 15_000 });
});

afterEach(async () => {
  proxy.refuse(false);
  await stopRuns(running.splice(0));
});

afterAll(async () => {
  await east?.connector.stop();
  east?.upstream.close();
  await proxy?.close();
  await runtime?.stop();
});

/** A local app that holds each request until the test lets it go. */
function gatedApp(): { server: Server; hits: string[]; release(): void } {
  const hits: string[] = [];
  let open: () => void = () => {};
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const server = createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    void gate.then(() => {
      res.setHeader('x-served-by', 'local-app');
      res.end(`local-app ${req.url}`);
    });
  });
  return { server, hits, release: () => open() };
}

async function intercept(port: number, dev: string): Promise<{ run: CliRun; sessionId: string }> {
  const run = cli(proxied, ['intercept', 'api', '--to', String(port), '--header', `x-dev=^${dev}$`]);
  running.push(run);
  await run.waitFor(/session (\w+): Ctrl-C/);
  return { run, sessionId: run.stderr().match(/session (\w+): Ctrl-C/)![1]! };
}

describe('resume after a dropped connection', () => {
  it('answers a stolen request that was in flight during the drop after the CLI resumes, once', async () => {
    const app = gatedApp();
    const { run, sessionId } = await intercept(await listen(app.server), 'ann');

    const answer = get(`${east.ingressUrl}/in-flight`, { 'x-dev': 'ann' });
    await eventually(() => app.hits.length === 1, 10_000, 'the request to reach the local app');
    // The CLI's connection drops while the local app works on the request, and stays down.
    proxy.refuse(true);
    proxy.cut();
    await run.waitFor(/router connection lost/);
    app.release();
    await new Promise((r) => setTimeout(r, 500));
    proxy.refuse(false);

    expect(await answer).toMatchObject({ status: 200, servedBy: 'local-app', text: 'local-app /in-flight' });
    await run.waitFor(new RegExp(`reconnected: session ${sessionId} resumed`));
    expect(app.hits).toEqual(['GET /in-flight']);
    // Still the same session, and still stealing.
    const next = await get(`${east.ingressUrl}/after`, { 'x-dev': 'ann' });
    expect(next.servedBy).toBe('local-app');
    const { body } = await api(runtime, 'GET', '/v1/sessions?state=live');
    expect((body.sessions as { id: string }[]).map((s) => s.id)).toEqual([sessionId]);
    app.server.close();
  });

  it('serves requests from the upstream while the CLI is away, and from the local app once it is back', async () => {
    const app = gatedApp();
    app.release();
    const { run, sessionId } = await intercept(await listen(app.server), 'bea');
    proxy.refuse(true);
    proxy.cut();
    await run.waitFor(/router connection lost/);

    const away = await get(`${east.ingressUrl}/away`, { 'x-dev': 'bea' });
    proxy.refuse(false);
    await run.waitFor(new RegExp(`reconnected: session ${sessionId} resumed`));
    const back = await eventually(async () => {
      const r = await get(`${east.ingressUrl}/back`, { 'x-dev': 'bea' });
      return r.servedBy === 'local-app' ? r : undefined;
    }, 10_000);

    expect(away.servedBy).toBe('upstream-east');
    expect(back.text).toBe('local-app /back');
    app.server.close();
  });

  it('tells the CLI its session is gone (410) when it ended during the drop: exit 3, no hang', async () => {
    const app = gatedApp();
    app.release();
    const { run, sessionId } = await intercept(await listen(app.server), 'cid');
    proxy.refuse(true);
    proxy.cut();
    await run.waitFor(/router connection lost/);
    expect((await api(runtime, 'DELETE', `/v1/sessions/${sessionId}`)).status).toBe(200);
    proxy.refuse(false);

    expect(await run.exited).toBe(3);
    expect(run.stderr()).toContain(`session ${sessionId} is gone`);
    expect((await api(runtime, 'GET', `/v1/sessions/${sessionId}/resume`)).status).toBe(410);
    app.server.close();
  });
});
