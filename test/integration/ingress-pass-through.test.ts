import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import { connect as http2Connect } from 'node:http2';
import { createServer as createNetServer, connect as netConnect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { listen, startIngress, type TestIngress, upstreamServer } from '../helpers/ingress.ts';

// The connector's ingress with no session wanting a request: it must behave as a reverse proxy.

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function setup(
  handler: Parameters<typeof upstreamServer>[0],
  service: Parameters<typeof startIngress>[1] = {},
  maxBodyBytes?: number,
): Promise<TestIngress & { upstream: Server }> {
  const up = await upstreamServer(handler);
  const ing = await startIngress(up.url, service, maxBodyBytes);
  cleanup.push(
    () => up.server.close(),
    () => up.server.closeAllConnections(),
    () => ing.ingress.close(),
  );
  return { ...ing, upstream: up.server };
}

function bodyOf(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      s += c;
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

describe('ingress pass-through (no session)', () => {
  it('streams server-sent events: the first event arrives while the upstream still holds the stream open', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let upstreamEnded = false;
    const { url } = await setup(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      await released;
      upstreamEnded = true;
      res.end('data: two\n\n');
    });

    const res = await fetch(`${url}/events`);
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);

    expect(first).toBe('data: one\n\n');
    expect(upstreamEnded).toBe(false);
    release();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(rest).toBe('data: two\n\n');
  });

  it('echoes over a WebSocket upgraded through the ingress, Upgrade headers untouched', async () => {
    const up = await upstreamServer((_req, res) => res.end('not an upgrade'));
    const wss = new WebSocketServer({ server: up.server });
    const seenHeaders: Record<string, unknown>[] = [];
    wss.on('connection', (ws, req) => {
      seenHeaders.push(req.headers);
      ws.on('message', (m, binary) => ws.send(m, { binary }));
    });
    const { ingress, port } = await startIngress(up.url);
    cleanup.push(
      () => up.server.close(),
      () => wss.close(),
      () => ingress.close(),
    );

    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`, 'chat.v1');
    await once(ws, 'open');
    ws.send('hello through the ingress');
    const [echo] = await once(ws, 'message');
    ws.close();

    expect(String(echo)).toBe('hello through the ingress');
    expect(ws.protocol).toBe('chat.v1');
    expect(seenHeaders[0]).toMatchObject({ upgrade: 'websocket', 'x-forwarded-for': '127.0.0.1' });
  });

  it('relays an upstream that declines an upgrade as it answered', async () => {
    const { port } = await setup((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('upgrade refused');
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port}/chat`);
    const [, res] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];

    expect(res.statusCode).toBe(426);
    expect(await bodyOf(res)).toBe('upgrade refused');
  });

  it('answers 502 naming the connector when the upstream cannot be reached', async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    closed.close();
    const { ingress, url } = await startIngress(`http://127.0.0.1:${port}`);
    cleanup.push(() => ingress.close());

    const res = await fetch(`${url}/orders`);

    expect(res.status).toBe(502);
    expect(res.headers.get('x-switchyard-error')).toBe('upstream_unreachable');
    expect(await res.text()).toMatch(
      /^switchyard connector: the upstream of service 'api' could not be reached/,
    );
  });

  it('answers 504 when the upstream does not start its answer within upstreamTimeoutMs', async () => {
    const { url } = await setup(() => {}, { upstreamTimeoutMs: 200 });

    const res = await fetch(`${url}/slow`);

    expect(res.status).toBe(504);
    expect(res.headers.get('x-switchyard-error')).toBe('upstream_timeout');
    expect(await res.text()).toMatch(/switchyard connector: .* did not answer within 200 ms/);
  });

  it('sets X-Forwarded-For/-Proto/-Host as a reverse proxy, and keeps what a proxy in front set', async () => {
    const { url } = await setup((req, res) => res.end(JSON.stringify(req.headers)));

    const plain = await (await fetch(`${url}/h`)).json();
    const behind = await (
      await fetch(`${url}/h`, {
        headers: {
          'x-forwarded-for': '203.0.113.9',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'shop.example',
        },
      })
    ).json();

    expect(plain).toMatchObject({
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': new URL(url).host,
    });
    expect(behind).toMatchObject({
      'x-forwarded-for': '203.0.113.9, 127.0.0.1',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'shop.example',
    });
  });

  it('passes header bytes above 0x7f through unchanged, both ways (no re-encoding)', async () => {
    let seen: Buffer | undefined;
    const { port } = await setup((req, res) => {
      // Node reads header bytes one to one (latin1); this recovers exactly what arrived.
      seen = Buffer.from(String(req.headers['x-name']), 'latin1');
      res.setHeader('x-reply', Buffer.from([0x63, 0x61, 0x66, 0xe9]).toString('latin1'));
      // A Buffer body: with a string one Node would write its own head as UTF-8.
      res.end(Buffer.from('ok'));
    });
    const socket = netConnect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      Buffer.concat([
        Buffer.from('GET /bytes HTTP/1.1\r\nhost: x\r\nx-name: caf'),
        Buffer.from([0xe9]),
        Buffer.from('\r\nconnection: close\r\n\r\n'),
      ]),
    );
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    await once(socket, 'end');
    const answer = Buffer.concat(chunks);
    expect(seen).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(answer.indexOf(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0d, 0x0a]))).toBeGreaterThan(0);
    socket.destroy();
  });

  it('relays response trailers and a chunked request body', async () => {
    const { port } = await setup(async (req, res) => {
      const body = await bodyOf(req);
      res.writeHead(200, { trailer: 'x-length' });
      res.write(body.toUpperCase());
      res.addTrailers({ 'x-length': String(body.length) });
      res.end();
    });

    const req = httpRequest({ port, method: 'POST', path: '/t', headers: { te: 'trailers' } });
    req.write('chunk one, ');
    req.end('chunk two');
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    const text = await bodyOf(res);

    expect(text).toBe('CHUNK ONE, CHUNK TWO');
    expect(res.trailers['x-length']).toBe('20');
  });

  it('lets the upstream answer Expect: 100-continue (a refusal reaches the client before any body)', async () => {
    const { upstream, port } = await setup(async (req, res) => res.end(`got ${await bodyOf(req)}`));
    upstream.on('checkContinue', (req, res) => {
      if (req.url === '/refuse') {
        res.writeHead(417);
        res.end();
      } else {
        res.writeContinue();
        upstream.emit('request', req, res);
      }
    });

    const ask = async (path: string) => {
      const req = httpRequest({
        port,
        method: 'PUT',
        path,
        headers: { expect: '100-continue', 'content-length': '4' },
      });
      let continued = false;
      req.on('continue', () => {
        continued = true;
        req.end('data');
      });
      req.flushHeaders();
      const [res] = (await once(req, 'response')) as [IncomingMessage];
      const body = await bodyOf(res);
      // Refused before the body: it is never sent.
      req.destroy();
      return { continued, status: res.statusCode, body };
    };

    expect(await ask('/ok')).toEqual({ continued: true, status: 200, body: 'got data' });
    expect(await ask('/refuse')).toMatchObject({ continued: false, status: 417 });
  });

  it('reuses upstream connections across requests (keep-alive pool)', async () => {
    const { upstream, url } = await setup((req, res) => res.end(req.url));
    let connections = 0;
    upstream.on('connection', () => connections++);

    for (let i = 0; i < 20; i++) expect(await (await fetch(`${url}/n/${i}`)).text()).toBe(`/n/${i}`);

    expect(connections).toBe(1);
  });

  it('sends a bodiless request again on a fresh connection when its reused one closes under it', async () => {
    // An upstream that answers the first request of its first connection, then closes that
    // connection as the next request arrives (its keep-alive timer firing at that moment).
    let connections = 0;
    const upstream = createNetServer((socket) => {
      const n = connections++;
      let requests = 0;
      socket.on('data', () => {
        requests++;
        if (n === 0 && requests === 2) socket.destroy();
        else socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\nconnection ${n}`);
      });
    });
    const { ingress, url } = await startIngress(`http://127.0.0.1:${await listen(upstream)}`);
    cleanup.push(
      () => upstream.close(),
      () => ingress.close(),
    );

    const first = await (await fetch(`${url}/a`)).text();
    const again = await fetch(`${url}/b`);
    const withBody = await fetch(`${url}/c`, { method: 'POST', body: 'x' });

    expect(first).toBe('connection 0');
    expect([again.status, await again.text()]).toEqual([200, 'connection 1']);
    // A body may have been consumed: it is not sent twice (the next connection answers it).
    expect(withBody.status).toBe(200);
  });

  it('serves an HTTP/2 (h2c prior knowledge) client on the same port, to an HTTP/1.1 upstream', async () => {
    const { port } = await setup((req, res) =>
      res.end(`${req.method} ${req.url} h${req.httpVersion} for ${req.headers['x-forwarded-for']}`),
    );
    const session = http2Connect(`http://127.0.0.1:${port}`);
    cleanup.push(() => session.close());

    const stream = session.request({ ':path': '/over/h2', ':method': 'GET' });
    const [headers] = (await once(stream, 'response')) as [Record<string, string>];
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c) => {
      body += c;
    });
    await once(stream, 'end');

    expect(headers[':status']).toBe(200);
    expect(body).toBe('GET /over/h2 h1.1 for 127.0.0.1');
  });

  it('answers 502 to an upgrade and to an HTTP/2 upstream that cannot be reached', async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    closed.close();
    const h1 = await startIngress(`http://127.0.0.1:${port}`);
    const h2 = await startIngress(`http://127.0.0.1:${port}`, { upstreamProtocol: 'h2c' });
    cleanup.push(
      () => h1.ingress.close(),
      () => h2.ingress.close(),
    );

    const ws = new WebSocket(`ws://127.0.0.1:${h1.port}/chat`);
    ws.on('error', () => {});
    const [, upgrade] = (await once(ws, 'unexpected-response')) as [unknown, IncomingMessage];
    const overH2 = await fetch(`${h2.url}/orders`);

    expect([upgrade.statusCode, await bodyOf(upgrade)]).toEqual([
      502,
      expect.stringMatching(/^switchyard connector: the upstream of service 'api' could not be reached/),
    ]);
    expect([overH2.status, overH2.headers.get('x-switchyard-error')]).toEqual([502, 'upstream_unreachable']);
  });
});

describe('ingress with sessions: mirror and oversized steal', () => {
  it('mirrors a copy on the side while the upstream serves the request', async () => {
    const { router, url } = await setup(async (req, res) => res.end(`upstream got ${await bodyOf(req)}`));
    router.subscribe('mirror', { path: '^/m' });

    const res = await fetch(`${url}/m/1`, { method: 'POST', body: 'abc', headers: { 'x-dev': 'ann' } });

    expect(await res.text()).toBe('upstream got abc');
    expect(router.mirrored).toHaveLength(1);
    expect(router.mirrored[0]).toMatchObject({ method: 'POST', path: '/m/1', headers: { 'x-dev': 'ann' } });
    expect(router.mirrored[0]!.body.toString()).toBe('abc');
    // 128 random bits, base64url (connector/request-id.ts).
    expect(router.mirrored[0]!.requestId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('skips (and counts) the copy of a body above maxBodyBytes; the upstream still gets it whole', async () => {
    const { router, ingress, url } = await setup(
      async (req, res) => res.end(String((await bodyOf(req)).length)),
      {},
      1024,
    );
    router.subscribe('mirror', {});

    const res = await fetch(`${url}/big`, { method: 'POST', body: 'x'.repeat(5000) });

    expect(await res.text()).toBe('5000');
    expect(router.mirrored).toEqual([]);
    expect(ingress.stats.mirrorSkipped).toBe(1);
  });

  it('sends a matching request above maxBodyBytes to the upstream whole instead of refusing it', async () => {
    const { router, ingress, url } = await setup(
      async (req, res) => res.end(`upstream ${(await bodyOf(req)).length}`),
      {},
      1024,
    );
    router.subscribe('steal', { headers: { 'x-dev': 'ann' } });
    const body = Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join('');

    const big = await fetch(`${url}/upload`, { method: 'POST', body, headers: { 'x-dev': 'ann' } });

    expect(big.status).toBe(200);
    expect(await big.text()).toBe(`upstream ${body.length}`);
    expect(router.stolen).toEqual([]);
    expect(ingress.stats.tooLargeToSteal).toBe(1);
  });

  it('still steals a request under maxBodyBytes, and falls back to the upstream when the developer does not answer', async () => {
    const { router, url } = await setup(
      async (req, res) => res.end(`upstream ${await bodyOf(req)}`),
      {},
      1024,
    );
    router.subscribe('steal', { headers: { 'x-dev': 'ann' } });
    router.answer = (req) =>
      req.path === '/mine'
        ? { status: 201, headers: { 'x-served-by': 'local-app' }, body: Buffer.from(`local ${req.body}`) }
        : undefined;

    const mine = await fetch(`${url}/mine`, { method: 'POST', body: 'hi', headers: { 'x-dev': 'ann' } });
    const fallback = await fetch(`${url}/other`, { method: 'POST', body: 'yo', headers: { 'x-dev': 'ann' } });

    expect([mine.status, mine.headers.get('x-served-by'), await mine.text()]).toEqual([
      201,
      'local-app',
      'local hi',
    ]);
    expect(await fallback.text()).toBe('upstream yo');
  });
});
