import type { Server } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import {
  addDeveloper,
  api,
  type CliRun,
  cli,
  get,
  listen,
  namedServer,
  startCluster,
  stopRuns,
  type TestCluster,
} from './harness.ts';

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
    { id: 'south', roles: ['workload'] },
  ],
};

let runtime: TestRuntime;
let clusters: TestCluster[];
let app: Server;
let appPort: number;
const running: CliRun[] = [];

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  clusters = [];
  for (const id of ['east', 'west', 'south']) clusters.push(await startCluster(runtime, id));
  app = namedServer('local-app');
  appPort = await listen(app);
});

afterEach(async () => {
  await stopRuns(running.splice(0));
});

afterAll(async () => {
  for (const c of clusters ?? []) {
    await c.connector.stop();
    c.upstream.close();
  }
  app?.close();
  await runtime?.stop();
});

function intercept(args: string[]): CliRun {
  const run = cli(runtime, ['intercept', 'api', '--to', String(appPort), ...args]);
  running.push(run);
  return run;
}

describe('one session across three clusters', () => {
  it('steals matching requests from every cluster into one local app; the rest reach each upstream', async () => {
    // Prepare
    const run = intercept(['--header', 'x-dev=^alice$']);
    await run.waitFor(/stealing api from east, west, south/);

    // Act
    const matched = await Promise.all(
      clusters.map((c) => get(`${c.ingressUrl}/orders?id=1`, { 'x-dev': 'alice' })),
    );
    const unmatched = await Promise.all(
      clusters.map((c) => get(`${c.ingressUrl}/orders`, { 'x-dev': 'bob' })),
    );

    // Assess
    for (const r of matched)
      expect(r).toMatchObject({ status: 200, text: 'local-app GET /orders?id=1', servedBy: 'local-app' });
    expect(unmatched.map((r) => r.text)).toEqual([
      'upstream-east GET /orders',
      'upstream-west GET /orders',
      'upstream-south GET /orders',
    ]);
    // The CLI shows each request with the cluster it came from.
    await run.waitFor(/east GET \/orders\?id=1 → 200/, 'stdout');
    await run.waitFor(/west GET \/orders\?id=1 → 200/, 'stdout');
    await run.waitFor(/south GET \/orders\?id=1 → 200/, 'stdout');

    // Ctrl-C ends the session: the clusters serve from the upstream again.
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    const after = await get(`${clusters[1]!.ingressUrl}/orders`, { 'x-dev': 'alice' });
    expect(after.servedBy).toBe('upstream-west');
    const { body } = await api(runtime, 'GET', '/v1/sessions?state=live');
    expect(body.sessions).toEqual([]);
  });

  it('carries bodies far above the 32 KB frame limit both ways (chunked and reassembled)', async () => {
    const run = intercept(['--header', 'x-dev=big']);
    await run.waitFor(/stealing api/);
    const body = 'x'.repeat(300 * 1024);

    const res = await fetch(`${clusters[1]!.ingressUrl}/upload`, {
      method: 'POST',
      headers: { 'x-dev': 'big' },
      body,
    });
    const text = await res.text();

    expect(res.headers.get('x-served-by')).toBe('local-app');
    expect(text).toBe(`local-app POST /upload body=${body}`);
  });

  it('mirrors: each upstream answers and the local app gets a copy', async () => {
    const seen: string[] = [];
    const mirrorApp = namedServer('mirror-app').on('request', (req) => seen.push(`${req.method} ${req.url}`));
    const port = await listen(mirrorApp);
    const run = cli(runtime, ['intercept', 'api', '--to', String(port), '--mirror', '--path', '^/mirror']);
    running.push(run);
    await run.waitFor(/mirroring api from east, west, south/);

    const answers = await Promise.all(clusters.map((c) => get(`${c.ingressUrl}/mirror/${c.id}`)));

    expect(answers.map((a) => a.servedBy)).toEqual(['upstream-east', 'upstream-west', 'upstream-south']);
    await eventually(() => seen.length === 3, 10_000, 'three mirrored copies');
    expect(seen.sort()).toEqual(['GET /mirror/east', 'GET /mirror/south', 'GET /mirror/west']);
    mirrorApp.close();
  });

  it('serves from the upstream when the local app is down, and never drops the request', async () => {
    const downApp = namedServer('gone');
    const port = await listen(downApp);
    await new Promise((r) => downApp.close(r));
    const run = cli(runtime, ['intercept', 'api', '--to', String(port), '--header', 'x-dev=carol']);
    running.push(run);
    await run.waitFor(/stealing api/);

    const r = await get(`${clusters[2]!.ingressUrl}/pay`, { 'x-dev': 'carol' });

    expect(r).toMatchObject({ status: 200, servedBy: 'upstream-south' });
    await run.waitFor(/local app unreachable, served by the cluster/, 'stdout');
  });

  it('falls back to the upstream within the deadline when the developer is gone mid-request', async () => {
    const run = intercept(['--header', 'x-dev=dave']);
    await run.waitFor(/stealing api/);
    // SIGKILL: the CLI cannot end its session; the connection just drops.
    run.child.kill('SIGKILL');
    await run.exited;

    const started = Date.now();
    const r = await get(`${clusters[0]!.ingressUrl}/x`, { 'x-dev': 'dave' });

    expect(r.servedBy).toBe('upstream-east');
    expect(Date.now() - started).toBeLessThan(5_000); // the deadline is 2 s; the request is never lost
  });

  it('answers env, files, DNS and outgoing TCP from the default cluster only', async () => {
    // env
    const env = cli(runtime, ['env', 'api', '--json']);
    expect(await env.exited).toBe(0);
    expect(JSON.parse(env.stdout())).toEqual({ CLUSTER_NAME: 'east', GREETING: 'hello from east' });

    // exec
    const exec = cli(runtime, [
      'exec',
      'api',
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.GREETING)',
    ]);
    expect(await exec.exited).toBe(0);
    expect(exec.stdout().trim()).toBe('hello from east');

    // files, over the session's own WebSocket
    const { body: created } = await api(runtime, 'POST', '/v1/sessions', { service: 'api' });
    await eventually(
      async () => (await api(runtime, 'GET', `/v1/sessions/${created.id}`)).body.state === 'ready',
    );
    const ws = new WebSocket(`${runtime.wsUrl}?session=${created.id}`, {
      headers: { authorization: `Bearer ${runtime.developerToken}` },
    });
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.on('open', r));
    const here = new URL(import.meta.url).pathname;
    ws.send(
      JSON.stringify({
        v: 1,
        type: 'file.read',
        reqId: 'f1',
        seq: 1,
        service: 'api',
        path: here,
        length: 64,
      }),
    );
    ws.send(JSON.stringify({ v: 1, type: 'file.stat', reqId: 'f2', seq: 2, service: 'api', path: here }));
    ws.send(
      JSON.stringify({ v: 1, type: 'file.read', reqId: 'f3', seq: 3, service: 'api', path: '/etc/passwd' }),
    );
    await eventually(() => frames.length >= 3, 10_000, 'three file answers');
    const [read, stat, denied] = ['f1', 'f2', 'f3'].map((id) => frames.find((f) => f.reqId === id)!);
    expect(Buffer.from(read!.data as string, 'base64').toString()).toBe(
      (await import('node:fs')).readFileSync(here, 'utf8').slice(0, 64),
    );
    expect(read!.cluster).toBe('east');
    expect(stat).toMatchObject({ type: 'file.result', stat: { type: 'file' }, cluster: 'east' });
    expect(denied).toMatchObject({ type: 'error', code: 'forbidden_path', cluster: 'east' });
    ws.close();

    // DNS
    const dns = cli(runtime, ['resolve', 'localhost']);
    expect(await dns.exited).toBe(0);
    expect(dns.stdout()).toMatch(/127\.0\.0\.1|::1/);

    // outgoing TCP: an echo server reachable from the default cluster
    const echo = createTcpServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoPort = (echo.address() as { port: number }).port;
    const localPort = await freePort();
    const tunnel = cli(runtime, ['connect', `127.0.0.1:${echoPort}`, '--local', String(localPort)]);
    running.push(tunnel);
    await tunnel.waitFor(/through the default cluster/);
    const reply = await tcpRoundTrip(localPort, 'ping through east');
    expect(reply).toBe('ping through east');
    echo.close();
  });

  it('keeps a second developer out of the first one’s session', async () => {
    const bob = await addDeveloper(runtime, 'bob');
    const run = intercept(['--header', 'x-dev=erin']);
    await run.waitFor(/session (\w+): Ctrl-C/);
    const sessionId = run.stderr().match(/session (\w+): Ctrl-C/)![1]!;

    // HTTP: not found, not forbidden (no probing for ids)
    expect((await api(runtime, 'GET', `/v1/sessions/${sessionId}`, undefined, bob)).status).toBe(404);
    expect((await api(runtime, 'DELETE', `/v1/sessions/${sessionId}`, undefined, bob)).status).toBe(404);
    expect(
      ((await api(runtime, 'GET', '/v1/sessions', undefined, bob)).body.sessions as unknown[]).length,
    ).toBe(0);

    // WebSocket: bob cannot attach to alice's session, nor send into it
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${runtime.wsUrl}?session=${sessionId}`, {
        headers: { authorization: `Bearer ${bob}` },
      });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(200));
    });
    expect(status).toBe(404);

    // A cluster token is not a developer token
    expect((await api(runtime, 'GET', '/v1/sessions', undefined, runtime.clusterTokens.east)).status).toBe(
      403,
    );
    // No token at all
    expect((await fetch(`${runtime.httpUrl}/v1/clusters`)).status).toBe(401);
  });

  it('reports a cluster that disconnects mid-session and recovers its child when it returns', async () => {
    const run = intercept(['--header', 'x-dev=frank']);
    await run.waitFor(/session (\w+): Ctrl-C/);
    const sessionId = run.stderr().match(/session (\w+): Ctrl-C/)![1]!;
    const west = clusters[1]!;

    await west.connector.stop();
    await eventually(
      async () => {
        const { body } = await api(runtime, 'GET', `/v1/sessions/${sessionId}`);
        return (body.clusters as Record<string, { state: string }>).west?.state === 'disconnected';
      },
      10_000,
      'west to be reported disconnected',
    );
    await run.waitFor(/west: disconnected/);

    await west.restart();
    await eventually(
      async () => {
        const { body } = await api(runtime, 'GET', `/v1/sessions/${sessionId}`);
        return (body.clusters as Record<string, { state: string }>).west?.state === 'ready';
      },
      10_000,
      'west child to be ready again',
    );
    // Its subscription came back with it (replayed from the store).
    const r = await get(`${west.ingressUrl}/back`, { 'x-dev': 'frank' });
    expect(r.servedBy).toBe('local-app');
  });

  it('answers malformed, oversized-field and unknown messages with error frames and keeps the connection', async () => {
    const { body } = await api(runtime, 'POST', '/v1/sessions', { service: 'api' });
    const ws = new WebSocket(`${runtime.wsUrl}?session=${body.id}`, {
      headers: { authorization: `Bearer ${runtime.developerToken}` },
    });
    const frames: Record<string, unknown>[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.on('open', r));

    ws.send('{ not json');
    ws.send(JSON.stringify({ v: 1, type: 'teleport' }));
    ws.send(JSON.stringify({ v: 1, type: 'dns.resolve', reqId: 'a', seq: 1, host: 'x'.repeat(5000) }));
    ws.send(JSON.stringify({ v: 9, type: 'ping' }));
    ws.send(JSON.stringify({ v: 1, type: 'child.ready', sessionId: body.id, childId: 'x' }));
    await eventually(() => frames.filter((f) => f.type === 'error').length >= 5, 10_000, 'five error frames');

    expect(frames.filter((f) => f.type === 'error').map((f) => f.code)).toEqual([
      'malformed_json',
      'unknown_type',
      'invalid_message',
      'unsupported_version',
      expect.any(String),
    ]);
    // Still open and still served
    ws.send(JSON.stringify({ v: 1, type: 'dns.resolve', reqId: 'b', seq: 1, host: 'localhost' }));
    await eventually(() => frames.some((f) => f.type === 'dns.result'), 10_000, 'a dns.result');
    expect(ws.readyState).toBe(WebSocket.OPEN);
    ws.close();
  });
});

async function freePort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function tcpRoundTrip(port: number, text: string): Promise<string> {
  const { connect } = await import('node:net');
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => sock.write(text));
    let got = '';
    sock.on('data', (d) => {
      got += d;
      if (got.length >= text.length) {
        sock.end();
        resolve(got);
      }
    });
    sock.on('error', reject);
  });
}
