import { constants, createServer, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Msg, sink, until } from '../../test/helpers/frame-sink.ts';
import type { Req } from './local-answer.ts';
import { isGrpcCall, LocalGrpc } from './local-grpc.ts';

/** The local app: an HTTP/2 server that answers as a gRPC server would, one shape per method. */
let app: Http2Server;
let port: number;
let sessions = 0;
let releaseCount: () => void = () => {};
const seen: { path: string; te?: string; dev?: string; body: string }[] = [];
const slow: ServerHttp2Stream[] = [];

const GRPC = { ':status': 200, 'content-type': 'application/grpc' };

beforeAll(async () => {
  app = createServer();
  app.on('session', () => sessions++);
  app.on('stream', (stream, headers) => {
    const path = String(headers[':path']);
    let body = '';
    stream.on('data', (c: Buffer) => {
      body += c.toString();
    });
    stream.on('end', () => {
      seen.push({ path, te: headers.te as string, dev: headers['x-dev'] as string, body });
      if (path === '/echo.Echo/Say') {
        stream.respond(GRPC, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-end': 'said' }));
        stream.end(`got ${body}`);
      } else if (path === '/echo.Echo/Missing') {
        stream.respond({ ...GRPC, 'grpc-status': '5', 'grpc-message': 'no such thing' }, { endStream: true });
      } else if (path === '/echo.Echo/Count') {
        stream.respond(GRPC, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.write('one;');
        new Promise<void>((r) => (releaseCount = r)).then(() => stream.end('two;'));
      } else if (path === '/echo.Echo/Reset') {
        stream.respond(GRPC);
        stream.write('partial;');
        setTimeout(() => stream.close(constants.NGHTTP2_INTERNAL_ERROR), 20);
      }
    });
    if (path === '/echo.Echo/Slow') slow.push(stream);
    // A reset (ours, or the CLI's cancel) fails the stream here too.
    stream.on('error', () => {});
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  port = (app.address() as AddressInfo).port;
});

afterAll(() => {
  for (const s of slow) s.destroy();
  app.close();
});

const b64 = (s: string) => Buffer.from(s).toString('base64');
const text = (m: Msg | undefined) => Buffer.from(String(m?.body ?? m?.data ?? ''), 'base64').toString();

/** A stolen call whose body follows in `data` frames, as the cluster sends a gRPC request. */
const call = (method: string, extra: Partial<Req> = {}): Req => ({
  requestId: `east:${method}:${Math.random()}`,
  mode: 'steal',
  method: 'POST',
  path: `/echo.Echo/${method}`,
  headers: { 'content-type': 'application/grpc', 'x-dev': 'alice' },
  stream: true,
  ...extra,
});

describe('isGrpcCall', () => {
  it.each([
    ['application/grpc', true],
    ['application/grpc+proto', true],
    ['application/grpc; charset=utf-8', true],
    ['application/grpc-web', false],
    ['application/grpc-web+proto', false],
    ['application/json', false],
  ])('%s is %s', (type, grpc) => {
    expect(isGrpcCall({ 'content-type': type })).toBe(grpc);
    expect(isGrpcCall({})).toBe(false);
  });
});

describe('LocalGrpc', () => {
  it('sends a unary answer whole, in one response with its body and trailers, over one connection', async () => {
    // Prepare
    const out = sink();
    // Held long enough that a loaded machine cannot split the answer.
    const grpc = new LocalGrpc(out, port, { coalesceMs: 2_000 });
    const before = sessions;

    // Act: two calls, each body in `data` frames then `close`.
    for (const who of ['a', 'b']) {
      const r = call('Say');
      const status = grpc.answer(r);
      grpc.onStream({ type: 'data', requestId: r.requestId, data: b64(`hello-${who};`) });
      grpc.onStream({ type: 'close', requestId: r.requestId });
      expect(await status).toBe(200);
      await until(() => out.sent.some((m) => m.requestId === r.requestId));
    }

    // Assess: what the app got (te: trailers added), one frame per answer, one connection.
    expect(seen.filter((s) => s.path === '/echo.Echo/Say').slice(-2)).toEqual([
      { path: '/echo.Echo/Say', te: 'trailers', dev: 'alice', body: 'hello-a;' },
      { path: '/echo.Echo/Say', te: 'trailers', dev: 'alice', body: 'hello-b;' },
    ]);
    expect(out.sent).toHaveLength(2);
    expect(out.sent[0]).toMatchObject({
      type: 'response',
      status: 200,
      headers: { 'content-type': 'application/grpc' },
      trailers: { 'grpc-status': '0', 'x-end': 'said' },
    });
    expect(out.sent[0]!.stream).toBeUndefined();
    expect(text(out.sent[0])).toBe('got hello-a;');
    expect(sessions - before).toBe(1);
    grpc.close();
  });

  it('sends a trailers-only answer as a response with no body, its status in the head', async () => {
    const out = sink();
    const r = call('Missing', { stream: false, body: b64('x') });

    expect(await new LocalGrpc(out, port).answer(r)).toBe(200);
    await until(() => out.sent.length > 0);

    expect(out.sent).toEqual([
      {
        type: 'response',
        requestId: r.requestId,
        status: 200,
        headers: expect.objectContaining({ 'grpc-status': '5', 'grpc-message': 'no such thing' }),
      },
    ]);
  });

  it('streams a longer answer: the head and first message before the app ends, trailers on close', async () => {
    // Act
    const out = sink();
    const r = call('Count', { stream: false });
    await new LocalGrpc(out, port).answer(r);
    await until(() => out.sent.some((m) => m.type === 'data'));

    // Assess: streaming while the app holds the call open.
    expect(out.sent.map((m) => m.type)).toEqual(['response', 'data']);
    expect(out.sent[0]).toMatchObject({ stream: true, status: 200 });
    expect(text(out.sent[1])).toBe('one;');
    releaseCount();
    await until(() => out.sent.some((m) => m.type === 'close'));
    expect(out.sent.map((m) => m.type)).toEqual(['response', 'data', 'data', 'close']);
    expect(text(out.sent[2])).toBe('two;');
    expect(out.sent[3]).toEqual({ type: 'close', requestId: r.requestId, trailers: { 'grpc-status': '0' } });
  });

  it('cuts the answer with a reason when the app resets the call mid-answer', async () => {
    const out = sink();
    const r = call('Reset', { stream: false });
    await new LocalGrpc(out, port).answer(r);
    await until(() => out.sent.some((m) => m.type === 'close'));

    expect(out.sent.map((m) => m.type)).toEqual(['response', 'data', 'close']);
    expect(out.sent[2]!.reason).toMatch(/without its status/);
    expect(out.sent[2]!.trailers).toBeUndefined();
  });

  it('cancels the call at the app when the cluster cuts it, and sends nothing back', async () => {
    const out = sink();
    const grpc = new LocalGrpc(out, port);
    const r = call('Slow');
    void grpc.answer(r);
    await until(() => slow.length > 0);

    grpc.onStream({ type: 'close', requestId: r.requestId, reason: 'the client went away' });
    const stream = slow.at(-1)!;
    await until(() => stream.closed);

    expect(stream.rstCode).toBe(constants.NGHTTP2_CANCEL);
    await new Promise((res) => setTimeout(res, 20));
    expect(out.sent).toEqual([]);
  });

  it('answers nothing for a mirrored copy, and hands a stolen call back when the app is not there', async () => {
    const out = sink();
    expect(await new LocalGrpc(out, port).answer(call('Say', { mode: 'mirror', stream: false }))).toBe(200);

    const dead = createServer();
    await new Promise<void>((res) => dead.listen(0, '127.0.0.1', () => res()));
    const deadPort = (dead.address() as AddressInfo).port;
    await new Promise((res) => dead.close(res));
    const r = call('Say');
    expect(await new LocalGrpc(out, deadPort).answer(r)).toBeUndefined();

    expect(out.sent).toEqual([
      { type: 'response', requestId: r.requestId, status: 502, headers: {}, fallback: true },
    ]);
  });
});
