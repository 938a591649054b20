import { createServer, request as httpRequest, type IncomingMessage } from 'node:http';
import { connect } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
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
 * A stolen request answered by a local app that streams: through the real local runtime, a
 * connector and `switchyard intercept`, each chunk reaches the client as the app writes it.
 * Also: a matching request too large to steal reaches the upstream and the CLI says so, and
 * another session's `data`/`close` for a streaming answer is refused.
 */

const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'] }],
};
const MAX_BODY = 64 * 1024;

let runtime: TestRuntime;
let east: TestCluster;
let bobToken: string;
const running: CliRun[] = [];
const sockets: WebSocket[] = [];

beforeAll(async () => {
  runtime = await startTestRuntime({ topology: TOPOLOGY });
  east = await startCluster(runtime, 'east', { requestDeadlineMs: 10_000, maxBodyBytes: MAX_BODY });
  bobToken = await addDeveloper(runtime, 'bob');
});

afterAll(async () => {
  for (const ws of sockets) ws.close();
  await stopRuns(running);
  await east?.connector.stop();
  east?.upstream.close();
  await runtime?.stop();
});

/** GET through the ingress; resolves at the head, the body read by the caller. */
function get(path: string, headers: Record<string, string>): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    httpRequest(`${east.ingressUrl}${path}`, { headers }, resolve).on('error', reject).end();
  });
}

/** Collects a body as it arrives; `until` waits for what arrived so far to hold. */
function collect(res: IncomingMessage) {
  const got = { text: '', ended: false, complete: false, cut: false };
  res.on('data', (c: Buffer) => {
    got.text += c.toString();
  });
  res.on('end', () => {
    got.ended = true;
    got.complete = res.complete;
  });
  res.on('aborted', () => {
    got.cut = true;
  });
  res.on('error', () => {
    got.cut = true;
  });
  res.on('close', () => {
    if (!got.ended) got.cut = true;
  });
  return {
    got,
    until: (pred: (g: typeof got) => boolean, what: string) => eventually(() => pred(got), 10_000, what),
  };
}

describe('a stolen request streams', () => {
  let run: CliRun;
  let releaseSecond!: () => void;
  const arrived: string[] = [];

  beforeAll(async () => {
    // Each request to /events waits for its own release.
    const gate = () =>
      new Promise<void>((r) => {
        releaseSecond = r;
      });
    const app = createServer((req, res) => {
      if (req.url === '/events') {
        // The second event (and the end) only after the client has seen the first: a buffered
        // answer would never reach the client, and the test would time out.
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        void gate().then(() => res.end('data: two\n\n'));
        return;
      }
      if (req.url === '/big') {
        const body = Buffer.alloc(200 * 1024, 'x');
        res.end(body);
        return;
      }
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        arrived.push(c.toString());
        bytes += c.length;
      });
      req.on('end', () => res.end(`local got ${bytes}`));
    });
    const port = await listen(app);
    run = cli(runtime, ['intercept', 'api', '--to', String(port), '--header', 'x-dev=^alice$']);
    running.push(run);
    await run.waitFor(/stealing api from east/);
  });

  it('delivers the first server-sent event before the local app ends the stream', async () => {
    // Act
    const res = await get('/events', { 'x-dev': 'alice', accept: 'text/event-stream' });
    const body = collect(res);
    await body.until((g) => g.text.includes('data: one'), 'the first event');

    // Assess: the first event is here while the app still holds the stream open.
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(body.got).toMatchObject({ text: 'data: one\n\n', ended: false });
    releaseSecond();
    await body.until((g) => g.ended || g.cut, 'the end of the stream');
    expect(body.got).toMatchObject({ text: 'data: one\n\ndata: two\n\n', complete: true, cut: false });
  });

  it('streams the events to an HTTP/2 client as well', async () => {
    // Prepare: the app's second event waits for the first at this client, as above.
    const client = connect(east.ingressUrl);
    const stream = client.request({ ':path': '/events', 'x-dev': 'alice' });
    let text = '';
    let ended = false;
    stream.on('data', (c: Buffer) => {
      text += c.toString();
    });
    stream.on('end', () => {
      ended = true;
    });

    // Act + Assess
    await eventually(() => text.includes('data: one'), 10_000, 'the first event over HTTP/2');
    expect(ended).toBe(false);
    releaseSecond();
    await eventually(() => ended, 10_000, 'the end of the HTTP/2 stream');
    expect(text).toBe('data: one\n\ndata: two\n\n');
    client.close();
  });

  it('streams an answer larger than one frame back whole', async () => {
    const res = await fetch(`${east.ingressUrl}/big`, { headers: { 'x-dev': 'alice' } });
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).toBe(200);
    expect(body.length).toBe(200 * 1024);
    expect(body.every((b) => b === 0x78)).toBe(true);
  });

  it('sends the request body to the local app as it arrives', async () => {
    // Prepare: a chunked upload whose second part is only written once the app has the first.
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(`${east.ingressUrl}/upload`, {
        method: 'POST',
        headers: { 'x-dev': 'alice', 'transfer-encoding': 'chunked' },
      });
      req.on('response', resolve).on('error', reject);
      req.write('part-one;');
      void eventually(() => arrived.includes('part-one;'), 10_000, 'the first part at the app').then(
        () => req.end('part-two;'),
        reject,
      );
    });

    // Act
    const res = await answered;
    const body = collect(res);
    await body.until((g) => g.ended || g.cut, 'the answer');

    // Assess: the app had the first part before the client sent the second, and answered.
    expect(arrived).toEqual(['part-one;', 'part-two;']);
    expect(res.statusCode).toBe(200);
    expect(body.got.text).toBe('local got 18');
  });

  it('serves a matching request too large to steal from the upstream, and the CLI says which one', async () => {
    // Act
    const big = 'y'.repeat(MAX_BODY + 1024);
    const res = await fetch(`${east.ingressUrl}/upload?id=7`, {
      method: 'POST',
      headers: { 'x-dev': 'alice' },
      body: big,
    });

    // Assess: the upstream got all of it; the developer is told they missed it, and why.
    const text = await res.text();
    expect(res.status).toBe(200);
    expect(text).toBe(`upstream-east POST /upload?id=7 body=${big}`);
    const missed = /east missed: POST \/upload\?id=7: its body is above the connector's limit of 65536 bytes/;
    await eventually(() => missed.test(run.stdout()), 10_000, `the missed line in:\n${run.stdout()}`);
  });
});

/** A developer's session over its own WebSocket, as the CLI would speak it. */
const rawSession = (token: string) => openRawSession(runtime, token, sockets);

describe('a streaming answer is bound to its session', () => {
  it('refuses another session’s data and close, and a close with a reason cuts the client', async () => {
    // Prepare: Carol steals, Bob mirrors the same traffic (so he learns the request id).
    const carol = await rawSession(runtime.developerToken);
    const bob = await rawSession(bobToken);
    for (const [dev, subId, mode] of [
      [carol, 'steal-c', 'steal'],
      [bob, 'mirror-b', 'mirror'],
    ] as const) {
      dev.send({
        type: 'subscribe',
        reqId: `q-${subId}`,
        subId,
        service: 'api',
        mode,
        filter: { headers: { 'x-dev': '^carol$' } },
      });
      await dev.next((f) => f.type === 'subscribed' && f.subId === subId, `subscribed ${subId}`);
    }
    const answered = get('/stream', { 'x-dev': 'carol' });
    const stolen = await carol.next((f) => f.type === 'request' && f.mode === 'steal', 'the stolen request');
    const requestId = stolen.requestId as string;
    await bob.next((f) => f.type === 'request' && f.requestId === requestId, 'the mirrored copy');
    const b64 = (s: string) => Buffer.from(s).toString('base64');

    // Act: Carol starts streaming; Bob writes into it and tries to end it; Carol goes on.
    carol.send({ type: 'response', requestId, status: 200, headers: { 'x-from': 'carol' }, stream: true });
    carol.send({ type: 'data', requestId, data: b64('carol-1;') });
    const res = await answered;
    const body = collect(res);
    await body.until((g) => g.text.includes('carol-1;'), 'Carol’s first chunk');
    bob.send({ type: 'data', requestId, data: b64('bob;') });
    bob.send({ type: 'close', requestId });
    const refusals = await eventually(
      () => {
        const r = bob.frames.filter((f) => f.code === 'not_your_request');
        return r.length >= 2 && r;
      },
      10_000,
      'two refusals at Bob',
    );
    carol.send({ type: 'data', requestId, data: b64('carol-2;') });
    await body.until((g) => g.text.includes('carol-2;'), 'Carol’s second chunk');
    carol.send({ type: 'close', requestId, reason: 'the local app crashed' });

    // Assess: Bob refused twice, by id; the client got only Carol's bytes, then a cut connection.
    expect(refusals.map((r) => r.requestId)).toEqual([requestId, requestId]);
    expect(res.headers['x-from']).toBe('carol');
    await body.until((g) => g.cut || g.ended, 'the client connection to end');
    expect(body.got).toMatchObject({ text: 'carol-1;carol-2;', cut: true, complete: false });
    expect(carol.frames.filter((f) => f.code === 'not_your_request')).toEqual([]);
  });

  it('replays a streamed body to the upstream when the developer gives the request up before answering', async () => {
    // Prepare
    const dana = await rawSession(runtime.developerToken);
    dana.send({
      type: 'subscribe',
      reqId: 'q-d',
      subId: 'steal-d',
      service: 'api',
      mode: 'steal',
      filter: { headers: { 'x-dev': '^dana$' } },
    });
    await dana.next((f) => f.type === 'subscribed' && f.subId === 'steal-d', 'subscribed steal-d');
    const body = 'z'.repeat(40 * 1024);

    // Act: the body streams to Dana, who gives the request up instead of answering.
    const answered = fetch(`${east.ingressUrl}/give-up`, {
      method: 'POST',
      headers: { 'x-dev': 'dana' },
      body,
    });
    const stolen = await dana.next(
      (f) => f.type === 'request' && f.path === '/give-up',
      'the stolen request',
    );
    const requestId = stolen.requestId as string;
    await dana.next((f) => f.type === 'close' && f.requestId === requestId, 'the end of the body');
    dana.send({ type: 'close', requestId, reason: 'not for me' });
    const res = await answered;

    // Assess: Dana got it in frames of at most 16 KB; the upstream served it with its whole body.
    expect(stolen).toMatchObject({ stream: true, method: 'POST' });
    expect(stolen.body).toBeUndefined();
    const data = dana.frames
      .filter((f) => f.type === 'data' && f.requestId === requestId)
      .map((f) => Buffer.from(String(f.data), 'base64'));
    expect(data.length).toBeGreaterThanOrEqual(3);
    for (const d of data) expect(d.length).toBeLessThanOrEqual(16 * 1024);
    expect(Buffer.concat(data).toString()).toBe(body);
    expect(await res.text()).toBe(`upstream-east POST /give-up body=${body}`);
  });
});

describe('frames of a stream put back in order (the router may reorder them)', () => {
  it('numbers the request body it sends, and reorders an answer whose data overtook its head', async () => {
    // Prepare: Erin steals; a chunked POST streams its body to her.
    const erin = await rawSession(runtime.developerToken);
    erin.send({
      type: 'subscribe',
      reqId: 'q-e',
      subId: 'steal-e',
      service: 'api',
      mode: 'steal',
      filter: { headers: { 'x-dev': '^erin$' } },
    });
    await erin.next((f) => f.type === 'subscribed' && f.subId === 'steal-e', 'subscribed steal-e');
    const answered = new Promise<IncomingMessage>((resolve, reject) => {
      const req = httpRequest(
        `${east.ingressUrl}/ordered`,
        { method: 'POST', headers: { 'x-dev': 'erin', 'transfer-encoding': 'chunked' } },
        resolve,
      ).on('error', reject);
      req.write('first;');
      setTimeout(() => req.end('second;'), 50);
    });
    const stolen = await erin.next((f) => f.type === 'request' && f.mode === 'steal', 'the stolen request');
    const requestId = stolen.requestId as string;
    const closed = await erin.next((f) => f.type === 'close' && f.requestId === requestId, 'the body’s end');
    const data = erin.frames.filter((f) => f.type === 'data' && f.requestId === requestId);

    // Act: Erin's answer arrives out of order: the second chunk, then the first, then the head.
    const b64 = (s: string) => Buffer.from(s).toString('base64');
    erin.send({ type: 'data', requestId, data: b64('two;'), part: 2 });
    erin.send({ type: 'data', requestId, data: b64('one;'), part: 1 });
    erin.send({ type: 'response', requestId, status: 200, headers: { 'x-from': 'erin' }, stream: true });
    erin.send({ type: 'close', requestId, part: 3 });
    const res = await answered;
    const body = collect(res);
    await body.until((g) => g.ended || g.cut, 'the answer to end');

    // Assess: the request body went out numbered 1, 2... and its end next; the client got the
    // answer whole and in order.
    expect(stolen.stream).toBe(true);
    expect(data.map((f) => f.part)).toEqual(data.map((_, i) => i + 1));
    expect(Buffer.concat(data.map((f) => Buffer.from(f.data as string, 'base64'))).toString()).toBe(
      'first;second;',
    );
    expect(closed.part).toBe(data.length + 1);
    expect(closed.reason).toBeUndefined();
    expect(res.headers['x-from']).toBe('erin');
    expect(body.got).toMatchObject({ text: 'one;two;', ended: true, complete: true, cut: false });
  });
});
