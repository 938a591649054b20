import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { addDeveloper, type CliRun, cli, listen, startCluster, type TestCluster } from './harness.ts';
import { type Frame, openRawSession, type RawSession } from './raw-session.ts';

/**
 * Two developers on one router: Alice steals requests, Bob (another developer, with a session
 * of his own) tries to answer them, cut them off, or touch Alice's tunnel. Every such frame is
 * refused with `not_your_request`; Alice's answers still reach her callers.
 */

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
  ],
};

type Dev = RawSession;

let runtime: TestRuntime;
let clusters: TestCluster[];
let aliceToken: string;
let bobToken: string;
const open: WebSocket[] = [];
const running: CliRun[] = [];

const session = (token: string): Promise<Dev> => openRawSession(runtime, token, open);

async function subscribe(dev: Dev, subId: string, mode: 'steal' | 'mirror', who: string): Promise<void> {
  dev.send({
    type: 'subscribe',
    reqId: `q-${subId}`,
    subId,
    service: 'api',
    mode,
    filter: { headers: { 'x-dev': `^${who}$` } },
  });
  const answer = await dev.next((f) => f.type === 'subscribed' && f.subId === subId, `subscribed ${subId}`);
  expect(answer.clusters).toEqual(['east', 'west']);
}

const refusalsOf = (dev: Dev) =>
  dev.frames.filter((f) => f.type === 'error' && f.code === 'not_your_request');
const east = () => clusters[0]!;

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  clusters = [];
  // A long deadline: a refused forgery must leave the request waiting for Alice, not time out.
  for (const id of ['east', 'west'])
    clusters.push(await startCluster(runtime, id, { requestDeadlineMs: 20_000 }));
  aliceToken = runtime.developerToken;
  bobToken = await addDeveloper(runtime, 'bob');
});

afterAll(async () => {
  for (const ws of open) ws.close();
  for (const r of running) {
    if (r.child.exitCode === null) {
      r.child.kill('SIGINT');
      await r.exited;
    }
  }
  for (const c of clusters ?? []) {
    await c.connector.stop();
    c.upstream.close();
  }
  await runtime?.stop();
});

describe('requests are bound to the session they were delivered to', () => {
  it('refuses Bob’s forged response, error and chunk for Alice’s stolen request, and guessed ids; Alice’s caller gets her answer', async () => {
    // Prepare: Alice steals by header; Bob mirrors the same traffic, so he sees her request ids.
    const alice = await session(aliceToken);
    const bob = await session(bobToken);
    await subscribe(alice, 'steal-a', 'steal', 'alice');
    await subscribe(bob, 'mirror-b', 'mirror', 'alice');
    const refusedBefore = east().connector.refusedAnswers;
    let settled = false;
    const caller = fetch(`${east().ingressUrl}/orders`, { headers: { 'x-dev': 'alice' } }).then(async (r) => {
      settled = true;
      return { status: r.status, text: await r.text() };
    });
    const stolen = await alice.next((f) => f.type === 'request', 'the stolen request at Alice');
    const copy = await bob.next((f) => f.type === 'request', 'the mirrored copy at Bob');
    const requestId = stolen.requestId as string;
    expect(stolen).toMatchObject({ mode: 'steal', cluster: 'east' });
    expect(copy).toMatchObject({ mode: 'mirror', requestId });
    // `<cluster>.<replica tag>:<id>`: the replica that holds the request is named in its id.
    expect(requestId).toMatch(/^east\.[0-9a-f]{8}:[A-Za-z0-9_-]{22}$/);

    // Act: Bob answers Alice's request every way he can, and tries ids he guessed.
    // Bob knows the replica's tag (his own requests carry it); only the random part is a guess.
    const guessed = `${requestId.split(':')[0]}:${randomBytes(16).toString('base64url')}`;
    const forged = Buffer.from('forged-by-B').toString('base64');
    bob.send({ type: 'response', requestId, status: 299, headers: {}, body: forged });
    bob.send({ type: 'error', requestId, code: 'cut_off', message: 'fall back to the upstream' });
    bob.send({
      type: 'chunk',
      msgId: 'forged-1',
      seq: 0,
      total: 2,
      head: { type: 'response', requestId },
      data: Buffer.from('{"v":1,"type":"response",').toString('base64'),
    });
    bob.send({ type: 'response', requestId: guessed, status: 299, headers: {}, body: forged });
    bob.send({ type: 'error', requestId: guessed, code: 'cut_off', message: 'guessed' });
    const refusals = await bob.all((f) => f.code === 'not_your_request', 5, 'five refusals at Bob');

    // Assess: each refused, the same way for Alice's id and for a guessed one.
    expect(refusals.map((r) => r.requestId).sort()).toEqual(
      [requestId, requestId, requestId, guessed, guessed].sort(),
    );
    for (const r of refusals) expect(r).toMatchObject({ type: 'error', cluster: 'east' });
    // Word for word the same but for the id: a refusal does not tell a live id from a guess.
    const shape = (r: Frame) => String(r.message).replace(String(r.requestId).replace(/^[^:]*:/, ''), '<id>');
    expect(new Set(refusals.map(shape)).size).toBe(1);
    expect(east().connector.refusedAnswers - refusedBefore).toBe(5);
    expect(settled).toBe(false);

    // Alice answers: her caller gets her answer, not Bob's, and she was refused nothing.
    alice.send({
      type: 'response',
      requestId,
      status: 200,
      headers: {},
      body: Buffer.from('from-A').toString('base64'),
    });
    expect(await caller).toEqual({ status: 200, text: 'from-A' });
    expect(refusalsOf(alice)).toEqual([]);
  });

  it('keeps the answer of Alice’s `switchyard intercept` when Bob forges one first', async () => {
    // Prepare: Alice's local app holds its answer until Bob has tried his.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const app = createServer((req, res) => {
      req.resume();
      void released.then(() => res.end(`alice-app ${req.method} ${req.url}`));
    });
    const port = await listen(app);
    const run = cli(
      runtime,
      ['intercept', 'api', '--to', String(port), '--header', 'x-dev=^dora$'],
      aliceToken,
    );
    running.push(run);
    await run.waitFor(/stealing api from east, west/);
    const bob = await session(bobToken);
    await subscribe(bob, 'mirror-dora', 'mirror', 'dora');
    const caller = fetch(`${clusters[1]!.ingressUrl}/cart`, { headers: { 'x-dev': 'dora' } });
    const copy = await bob.next((f) => f.type === 'request', 'the mirrored copy at Bob');
    expect(copy).toMatchObject({ cluster: 'west', mode: 'mirror' });

    // Act
    bob.send({ type: 'response', requestId: copy.requestId, status: 299, headers: {}, body: 'Qg==' });
    await bob.next((f) => f.code === 'not_your_request', 'the refusal at Bob');
    release();
    const res = await caller;

    // Assess
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('alice-app GET /cart');
    await run.waitFor(/west GET \/cart → 200/, 'stdout');
    app.close();
  });

  it('takes no answer for a mirrored copy, not even from the session it was sent to', async () => {
    // Prepare
    const bob = await session(bobToken);
    await subscribe(bob, 'mirror-only', 'mirror', 'carol');
    const served = await fetch(`${east().ingressUrl}/mirror`, { headers: { 'x-dev': 'carol' } });
    const copy = await bob.next((f) => f.type === 'request', 'the mirrored copy');

    // Act
    bob.send({ type: 'response', requestId: copy.requestId, status: 299, headers: {} });
    const [refusal] = await bob.all((f) => f.code === 'not_your_request', 1, 'a refusal');

    // Assess
    expect(refusal).toMatchObject({ requestId: copy.requestId, cluster: 'east' });
    expect(await served.text()).toBe('upstream-east GET /mirror');
  });

  it('refuses another session’s frames on Alice’s tunnel; her tunnel stays open and hers alone', async () => {
    // Prepare: Alice tunnels to a TCP echo server through the default cluster.
    const received: string[] = [];
    const echo: TcpServer = createTcpServer((s) =>
      s.on('data', (d) => {
        received.push(d.toString());
        s.write(d);
      }),
    );
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const port = (echo.address() as { port: number }).port;
    const alice = await session(aliceToken);
    const bob = await session(bobToken);
    alice.send({ type: 'outgoing.connect', reqId: 't1', seq: 0, connId: 'c1', host: '127.0.0.1', port });
    await alice.next((f) => f.type === 'outgoing.connected', 'the tunnel to open');

    // Act: Bob writes into and closes "c1", the id Alice uses.
    bob.send({ type: 'outgoing.data', connId: 'c1', data: Buffer.from('forged').toString('base64') });
    bob.send({ type: 'outgoing.close', connId: 'c1' });
    const refusals = await bob.all((f) => f.code === 'not_your_request', 2, 'two refusals');
    alice.send({ type: 'outgoing.data', connId: 'c1', data: Buffer.from('mine').toString('base64') });
    const back = await alice.next((f) => f.type === 'outgoing.data', 'the echo at Alice');

    // Assess
    expect(refusals).toEqual([
      expect.objectContaining({ connId: 'c1', cluster: 'east' }),
      expect.objectContaining({ connId: 'c1', cluster: 'east' }),
    ]);
    expect(Buffer.from(back.data as string, 'base64').toString()).toBe('mine');
    expect(received.join('')).toBe('mine');
    expect(alice.frames.some((f) => f.type === 'outgoing.close')).toBe(false);
    echo.close();
  });

  it('sends a stateful reply only to the session that asked, even when both chose the same reqId', async () => {
    const alice = await session(aliceToken);
    const bob = await session(bobToken);

    alice.send({ type: 'env.get', reqId: 'same', seq: 0, service: 'api' });
    bob.send({ type: 'dns.resolve', reqId: 'same', seq: 0, host: 'localhost' });
    const a = await alice.next((f) => f.reqId === 'same', 'Alice’s reply');
    const b = await bob.next((f) => f.reqId === 'same', 'Bob’s reply');

    expect(a).toMatchObject({ type: 'env.result', cluster: 'east' });
    expect(b).toMatchObject({ type: 'dns.result', cluster: 'east' });
    expect(alice.frames.filter((f) => f.reqId === 'same')).toHaveLength(1);
    expect(bob.frames.filter((f) => f.reqId === 'same')).toHaveLength(1);
  });
});
