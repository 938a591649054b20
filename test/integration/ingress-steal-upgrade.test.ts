import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ForwardedRequest, ForwardedResponse, Target } from '../../connector/ingress/types.ts';
import { FakeTrafficRouter } from '../helpers/fake-traffic-router.ts';
import { listen, startIngress, type TestIngress } from '../helpers/ingress.ts';
import { eventually } from '../helpers/local-runtime.ts';

/**
 * The ingress's side of a stolen upgrade, with a real ingress and upstream and a scripted
 * developer: what the client's socket sees, what the developer is sent, and the fallback.
 */

/** A developer that records the tunnel's frames (the real one is the connector's router link). */
class TunnelRouter extends FakeTrafficRouter {
  readonly toDeveloper: { requestId: string; data?: string; end?: string }[] = [];
  /** Whether the connection to the router is behind (its send queue past its high-water mark). */
  behind = false;
  private readonly drained: (() => void)[] = [];
  requestBody(_t: Target, requestId: string, chunk: Buffer): boolean {
    this.toDeveloper.push({ requestId, data: chunk.toString() });
    return !this.behind;
  }
  whenDrained(callback: () => void): void {
    if (this.behind) this.drained.push(callback);
    else callback();
  }
  catchUp(): void {
    this.behind = false;
    for (const cb of this.drained.splice(0)) cb();
  }
  endRequestBody(_t: Target, requestId: string, reason?: string): void {
    this.toDeveloper.push({ requestId, end: reason ?? '' });
  }
  bytes(): string {
    return this.toDeveloper.map((f) => f.data ?? '').join('');
  }
}

let upstream: Server;
let ingress: TestIngress;
let router: TunnelRouter;
const sockets: Socket[] = [];

beforeAll(async () => {
  // The upstream switches to a protocol that echoes each read prefixed with `up:`.
  upstream = createServer((_req, res) => res.end('plain'));
  upstream.on('upgrade', (_req, socket: Socket, head: Buffer) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: shout\r\nconnection: Upgrade\r\n\r\n');
    if (head.length) socket.write(`up:${head}`);
    socket.on('data', (c) => socket.write(`up:${c}`));
    socket.on('error', () => {});
  });
  const port = await listen(upstream);
  router = new TunnelRouter();
  router.subscribe('steal', { headers: { 'x-dev': '^ann$' } }, 'ann');
  ingress = await startIngress(`http://127.0.0.1:${port}`, {}, 64 * 1024, router);
});

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
  router.toDeveloper.length = 0;
});

afterAll(async () => {
  await ingress.ingress.close();
  upstream.close();
});

/** A raw client: the upgrade head and `early` bytes in one write; everything it reads. */
async function client(path: string, early = '') {
  const socket = connect(ingress.port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => {});
  await once(socket, 'connect');
  const got = { text: '', closed: false };
  socket.on('data', (c) => {
    got.text += c.toString();
  });
  socket.on('close', () => {
    got.closed = true;
  });
  socket.write(
    `GET ${path} HTTP/1.1\r\nhost: svc\r\nx-dev: ann\r\nupgrade: shout\r\nconnection: Upgrade\r\n\r\n${early}`,
  );
  return { socket, got, until: (p: () => boolean, what: string) => eventually(p, 5_000, what) };
}

/** The developer answers the next stolen request with `answer`, once it is asked. */
function answerWith(answer: (req: ForwardedRequest) => ForwardedResponse | undefined) {
  router.answer = answer;
}

describe('a stolen upgrade at the ingress', () => {
  it('is sent as a streamed upgrade request, and the upstream gets it whole (early bytes too) when not taken', async () => {
    // Prepare
    answerWith(() => undefined);
    const before = router.stolen.length;

    // Act
    const c = await client('/fallback', 'early;');
    await c.until(() => c.got.text.includes('up:early;'), 'the upstream’s echo of the early bytes');
    c.socket.write('later');

    // Assess: the developer saw the head only; the upstream got every byte.
    await c.until(() => c.got.text.includes('up:later'), 'the upstream’s echo');
    expect(c.got.text.startsWith('HTTP/1.1 101')).toBe(true);
    const stolen = router.stolen[before]!;
    expect(stolen).toMatchObject({ method: 'GET', path: '/fallback', stream: true, upgrade: true });
    expect(stolen.headers).toMatchObject({ upgrade: 'shout', connection: 'upgrade', 'x-dev': 'ann' });
    expect(router.toDeveloper).toEqual([]);
  });

  it('becomes a tunnel on a streamed 101: both ways, early bytes first, and a cut closes the client', async () => {
    // Prepare
    const fromApp = new PassThrough();
    answerWith(() => ({
      status: 101,
      headers: { upgrade: 'shout', connection: 'Upgrade', 'x-app': 'local', 'content-length': '5' },
      body: fromApp,
    }));

    // Act
    const c = await client('/tunnel', 'early;');
    await c.until(() => c.got.text.includes('\r\n\r\n'), 'the 101 head');
    fromApp.write('from-app;');
    c.socket.write('from-client;');
    await c.until(() => c.got.text.endsWith('from-app;'), 'the app’s bytes');
    await c.until(() => router.bytes() === 'early;from-client;', 'the client’s bytes at the developer');
    fromApp.destroy(new Error('the local app crashed'));
    await c.until(() => c.got.closed, 'the client’s connection to close');

    // Assess: the developer's head, its hop-by-hop and length headers replaced by the upgrade's.
    const head = c.got.text.slice(0, c.got.text.indexOf('\r\n\r\n')).toLowerCase();
    expect(head.split('\r\n')).toEqual([
      'http/1.1 101 switching protocols',
      'x-app: local',
      'connection: upgrade',
      'upgrade: shout',
    ]);
  });

  it('stops reading the client while the router connection is behind, and goes on once it catches up', async () => {
    // Prepare: a tunnel whose router connection falls behind at the first byte.
    answerWith(() => ({ status: 101, headers: { upgrade: 'shout' }, body: new PassThrough() }));
    const c = await client('/behind');
    await c.until(() => c.got.text.includes('\r\n\r\n'), 'the 101 head');
    router.behind = true;

    // Act: the client sends 8 MiB while the connector should be reading none of it.
    c.socket.write('first;');
    await c.until(() => router.bytes() === 'first;', 'the first bytes at the developer');
    const block = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 8; i++) c.socket.write(block);
    await new Promise((r) => setTimeout(r, 300));
    const whileBehind = router.bytes().length;
    router.catchUp();

    // Assess: nothing was read while behind; everything arrives after.
    expect(whileBehind).toBe('first;'.length);
    await c.until(() => router.bytes().length === 'first;'.length + 8 * 1024 * 1024, 'the rest');
  });

  it('tells the developer when the client ends its side', async () => {
    answerWith(() => ({ status: 101, headers: { upgrade: 'shout' }, body: new PassThrough() }));
    const c = await client('/client-ends');
    await c.until(() => c.got.text.includes('\r\n\r\n'), 'the 101 head');

    c.socket.end();

    await c.until(() => router.toDeveloper.some((f) => f.end !== undefined), 'the end at the developer');
    expect(router.toDeveloper.filter((f) => f.end !== undefined).map((f) => f.end)).toEqual(['']);
  });

  it('relays a refusal and closes the connection', async () => {
    answerWith(() => ({ status: 403, headers: { 'content-type': 'text/plain' }, body: Buffer.from('no') }));
    const c = await client('/refused');
    await c.until(() => c.got.closed, 'the connection to close');
    expect(c.got.text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(c.got.text).toMatch(/content-length: 2\r\nconnection: close\r\n\r\nno$/);
  });

  it.each([
    ['a header value that would split the head', 101, { upgrade: 'shout', 'x-evil': 'a\r\nset-cookie: x=1' }],
    ['an interim status other than 101', 100, {}],
  ])('answers 502 to %s, and writes none of it', async (_what, status, headers) => {
    answerWith(() => ({ status, headers, body: new PassThrough() }));
    const c = await client('/bad');
    await c.until(() => c.got.closed, 'the connection to close');
    expect(c.got.text).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(c.got.text).not.toContain('set-cookie');
  });
});
