import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import {
  addDeveloper,
  type CliRun,
  cli,
  listen,
  startCluster,
  stopRuns,
  type TestCluster,
} from './harness.ts';
import { openRawSession } from './raw-session.ts';

/**
 * A stolen WebSocket: through the real local runtime, a connector and `switchyard intercept`,
 * an upgrade whose head matches the steal filter reaches the developer's local app, and the
 * upgraded connection is tunnelled both ways. The local app prefixes its echoes with `local:`,
 * the cluster's own service with `upstream:`, so each test knows who answered.
 */

/** Short, so a tunnel that outlives it shows no deadline cuts it once the 101 is taken. */
const DEADLINE_MS = 1_500;
const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
};

let runtime: TestRuntime;
let east: TestCluster;
let bobToken: string;
const clients: WebSocket[] = [];
const running: CliRun[] = [];

/**
 * A WebSocket echo server on `server` that prefixes what it sends back; `bye` makes it close
 * with a reason naming it. The local app (`refuse`) declines `/refused`; the upstream takes it.
 */
function echo(server: Server, prefix: string, refuse = false) {
  const wss = new WebSocketServer({
    server,
    verifyClient: (info: { req: IncomingMessage }) => !refuse || info.req.url !== '/refused',
  });
  const closed: number[] = [];
  wss.on('connection', (ws) => {
    ws.on('message', (m) => {
      if (m.toString() === 'bye') ws.close(4000, `bye from ${prefix}`);
      else ws.send(`${prefix}${m.toString()}`);
    });
    ws.on('close', (code) => closed.push(code));
  });
  return { wss, closed };
}

/** A client through the ingress, with every message it gets and how it closed. */
async function connect(path: string, dev: string) {
  const ws = new WebSocket(`${east.ingressUrl.replace(/^http/, 'ws')}${path}`, { headers: { 'x-dev': dev } });
  clients.push(ws);
  const got: string[] = [];
  const end: { code?: number; reason?: string } = {};
  ws.on('message', (m) => got.push(m.toString()));
  ws.on('close', (code, reason) => {
    end.code = code;
    end.reason = reason.toString();
  });
  ws.on('error', () => {});
  await once(ws, 'open');
  const said = (text: string) => eventually(() => got.includes(text), 10_000, `'${text}' at the client`);
  return { ws, got, end, said };
}

let app: Server;
let local: ReturnType<typeof echo>;
let run: CliRun;

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  east = await startCluster(runtime, 'east', { requestDeadlineMs: DEADLINE_MS });
  bobToken = await addDeveloper(runtime, 'bob');
  echo(east.upstream, 'upstream:');
  app = createServer((_req, res) => res.end('not a websocket'));
  local = echo(app, 'local:', true);
  const port = await listen(app);
  run = cli(runtime, ['intercept', 'api', '--to', String(port), '--header', 'x-dev=^alice$']);
  running.push(run);
  await run.waitFor(/stealing api from east/);
});

afterAll(async () => {
  for (const ws of clients) ws.terminate();
  await stopRuns(running);
  await east?.connector.stop();
  east?.upstream.close();
  app?.close();
  await runtime?.stop();
});

describe('a stolen WebSocket', () => {
  it('A stolen WebSocket echoes from the local app', async () => {
    // Act
    const c = await connect('/chat', 'alice');
    c.ws.send('one');
    await c.said('local:one');
    c.ws.send('two');
    await c.said('local:two');

    // Assess: only the local app answered, in order; the CLI says the upgrade is open.
    expect(c.got).toEqual(['local:one', 'local:two']);
    await run.waitFor(/east GET \/chat → 101 \(websocket, open\)/, 'stdout');
    c.ws.close();
  });

  it('carries a message larger than one data frame both ways', async () => {
    const c = await connect('/big', 'alice');
    const big = 'b'.repeat(100 * 1024);
    c.ws.send(big);
    await c.said(`local:${big}`);
    c.ws.close();
  });

  it('sends an upgrade the filter does not match to the upstream', async () => {
    const c = await connect('/chat', 'bob');
    c.ws.send('hi');
    await c.said('upstream:hi');
    expect(c.got).toEqual(['upstream:hi']);
    c.ws.close();
  });

  it('closes the local app’s side when the client closes, and the CLI says so', async () => {
    // Prepare
    const c = await connect('/client-closes', 'alice');
    c.ws.send('x');
    await c.said('local:x');
    const before = local.closed.length;

    // Act
    c.ws.close(1000, 'done');

    // Assess: the app saw the client's close code; the CLI printed the end of the connection.
    await eventually(() => local.closed.length > before, 10_000, 'the close at the local app');
    expect(local.closed.at(-1)).toBe(1000);
    await eventually(() => c.end.code !== undefined, 10_000, 'the close at the client');
    await run.waitFor(/east GET \/client-closes closed/, 'stdout');
  });

  it('closes the client when the local app closes', async () => {
    const c = await connect('/app-closes', 'alice');
    c.ws.send('bye');
    await eventually(() => c.end.code !== undefined, 10_000, 'the close at the client');
    expect(c.end).toEqual({ code: 4000, reason: 'bye from local:' });
    await run.waitFor(/east GET \/app-closes closed/, 'stdout');
  });

  it('relays the local app’s refusal of an upgrade', async () => {
    const ws = new WebSocket(`${east.ingressUrl.replace(/^http/, 'ws')}/refused`, {
      headers: { 'x-dev': 'alice' },
    });
    clients.push(ws);
    ws.on('error', () => {});
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    expect(res.statusCode).toBe(401);
    res.resume();
    await run.waitFor(/east GET \/refused → 401\n/, 'stdout');
  });

  it('sends a matching upgrade to the upstream when the local app is not there', async () => {
    // Prepare: the app stops listening; its open connections are dropped.
    for (const ws of local.wss.clients) ws.terminate();
    await new Promise<void>((r) => app.close(() => r()));

    // Act
    const c = await connect('/chat', 'alice');
    c.ws.send('hi');

    // Assess
    await c.said('upstream:hi');
    expect(c.got).toEqual(['upstream:hi']);
    c.ws.close();
  });
});

describe('a stolen WebSocket and the developer’s session', () => {
  it('is cut when the session ends, and then matching upgrades reach the upstream', async () => {
    // Prepare: a local app and a new intercept, with one stolen WebSocket open.
    const app2 = createServer();
    echo(app2, 'local2:');
    const port = await listen(app2);
    const run2 = cli(runtime, ['intercept', 'api', '--to', String(port), '--header', 'x-dev=^carol$']);
    running.push(run2);
    await run2.waitFor(/stealing api from east/);
    const c = await connect('/chat', 'carol');
    c.ws.send('hi');
    await c.said('local2:hi');

    // Act: the developer ends the session (Ctrl-C).
    run2.child.kill('SIGINT');
    await run2.exited;

    // Assess: the open connection was cut, and a new one reaches the upstream.
    await eventually(() => c.end.code !== undefined, 10_000, 'the stolen WebSocket to be cut');
    expect(c.end.code).toBe(1006);
    const after = await connect('/chat', 'carol');
    after.ws.send('again');
    await after.said('upstream:again');
    after.ws.close();
    app2.close();
  });
});

describe('a stolen WebSocket whose developer is gone', () => {
  it('is cut when the developer’s CLI dies, and matching upgrades then reach the upstream', async () => {
    // Prepare: an intercept with one stolen WebSocket open.
    const app3 = createServer();
    echo(app3, 'local3:');
    const port = await listen(app3);
    const run3 = cli(runtime, ['intercept', 'api', '--to', String(port), '--header', 'x-dev=^dave$']);
    running.push(run3);
    await run3.waitFor(/stealing api from east/);
    const c = await connect('/chat', 'dave');
    c.ws.send('hi');
    await c.said('local3:hi');

    // Act: the CLI dies without ending its session; the client goes on sending.
    run3.child.kill('SIGKILL');
    await run3.exited;
    c.ws.send('anyone there?');

    // Assess: the bytes could not reach the developer, so the connection was cut; the session
    // still holds its subscription, yet a new matching upgrade is served by the upstream.
    await eventually(() => c.end.code !== undefined, 10_000, 'the stolen WebSocket to be cut');
    expect(c.end.code).toBe(1006);
    expect(c.got).toEqual(['local3:hi']);
    const after = await connect('/chat', 'dave');
    after.ws.send('again');
    await after.said('upstream:again');
    after.ws.close();
    app3.close();
  });
});

describe('a stolen WebSocket, as the protocol carries it', () => {
  const b64 = (b: Buffer) => b.toString('base64');
  /** A server's unmasked text frame (RFC 6455 5.2), short payloads only. */
  const textFrame = (text: string) => Buffer.concat([Buffer.from([0x81, text.length]), Buffer.from(text)]);
  /** A client's masked text frame, read back. */
  const unmask = (frame: Buffer) => {
    const mask = frame.subarray(2, 6);
    return Buffer.from(frame.subarray(6, 6 + (frame[1]! & 0x7f)).map((b, i) => b ^ mask[i % 4]!)).toString();
  };

  it('outlives the request deadline, takes bytes only from its own session, and a cut closes the client', async () => {
    // Prepare: Carol steals upgrades by hand; Bob is another developer who learns the request id.
    const carol = await openRawSession(runtime, runtime.developerToken, clients);
    const bob = await openRawSession(runtime, bobToken, clients);
    carol.send({
      type: 'subscribe',
      reqId: 'q-raw',
      subId: 'steal-raw',
      service: 'api',
      mode: 'steal',
      filter: { headers: { 'x-dev': '^raw$' } },
    });
    await carol.next((f) => f.type === 'subscribed', 'subscribed');
    const ws = new WebSocket(`${east.ingressUrl.replace(/^http/, 'ws')}/raw`, {
      headers: { 'x-dev': 'raw' },
    });
    clients.push(ws);
    const got: string[] = [];
    ws.on('message', (m) => got.push(m.toString()));
    ws.on('error', () => {});
    const closed = once(ws, 'close');

    // Act: Carol takes the upgrade with a 101 of her own.
    const stolen = await carol.next((f) => f.type === 'request' && f.path === '/raw', 'the stolen upgrade');
    const requestId = stolen.requestId as string;
    const headers = stolen.headers as Record<string, string>;
    const accept = createHash('sha1')
      .update(`${headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64');
    carol.send({
      type: 'response',
      requestId,
      status: 101,
      headers: { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-accept': accept },
      stream: true,
    });
    await once(ws, 'open');
    await new Promise((r) => setTimeout(r, DEADLINE_MS + 300));
    bob.send({ type: 'data', requestId, data: b64(textFrame('from bob')) });
    bob.send({ type: 'close', requestId });
    const refusals = await bob.all((f) => f.code === 'not_your_request', 2, 'two refusals at Bob');
    carol.send({ type: 'data', requestId, data: b64(textFrame('from carol')) });
    ws.send('to carol');
    const data = await carol.next(
      (f) => f.type === 'data' && f.requestId === requestId,
      'the client’s frame',
    );
    await eventually(() => got.length > 0, 10_000, 'Carol’s frame at the client');
    carol.send({ type: 'close', requestId, reason: 'the local app crashed' });
    const [code] = await closed;

    // Assess: an upgrade request with its upgrade headers; the tunnel outlived the deadline;
    // Bob's bytes and close were refused by id; Carol's cut closed the client abruptly.
    expect(stolen).toMatchObject({ mode: 'steal', method: 'GET', stream: true, upgrade: true });
    expect(stolen.body).toBeUndefined();
    expect(headers).toMatchObject({
      upgrade: 'websocket',
      connection: 'upgrade',
      'sec-websocket-version': '13',
    });
    expect(refusals.map((r) => r.requestId)).toEqual([requestId, requestId]);
    expect(got).toEqual(['from carol']);
    expect(unmask(Buffer.from(String(data.data), 'base64'))).toBe('to carol');
    expect(code).toBe(1006);
  });
});
