import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { heartbeatEvery, SessionConnection } from './session-client.ts';

/**
 * The session client across dropped connections, against a bare WebSocket server standing in for
 * the router: `onFrame` decides per connection (numbered from 1) what to do with each frame.
 */
type Frame = Record<string, unknown> & { type: string };

let server: WebSocketServer | undefined;
let conn: SessionConnection | undefined;
afterEach(async () => {
  conn?.stop();
  conn = undefined;
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function router(onFrame: (f: Frame, ws: WebSocket, connection: number) => void) {
  const frames: { connection: number; frame: Frame }[] = [];
  let connections = 0;
  server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => server!.once('listening', r));
  server.on('connection', (ws) => {
    const n = ++connections;
    ws.on('message', (d) => {
      const frame = JSON.parse(d.toString()) as Frame;
      if (frame.type === 'ping') return;
      frames.push({ connection: n, frame });
      onFrame(frame, ws, n);
    });
  });
  conn = new SessionConnection(
    `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    'sy_dev_test',
    'sess1',
  );
  await conn.start();
  return { conn, frames, connections: () => connections };
}

const reply = (ws: WebSocket, f: Frame, fields: Record<string, unknown>) =>
  ws.send(JSON.stringify({ v: 1, reqId: f.reqId, seq: f.seq, ...fields }));

describe('session client across a dropped connection', () => {
  it('sends a read in flight again after the resume and releases its reply once', async () => {
    const r = await router((f, ws, n) => {
      if (n === 1)
        ws.terminate(); // the router process dies before answering
      else if (f.type === 'env.get') {
        reply(ws, f, { type: 'env.result', env: { A: String(n) } });
        reply(ws, f, { type: 'env.result', env: { A: 'duplicate' } });
      } else reply(ws, f, { type: 'dns.result', addresses: ['10.0.0.3'] });
    });

    const env = await r.conn.request({ type: 'env.get', service: 'api' });
    const next = await r.conn.request({ type: 'dns.resolve', host: 'db' });

    expect(env).toMatchObject({ type: 'env.result', seq: 1, env: { A: '2' } });
    expect(next).toMatchObject({ type: 'dns.result', seq: 2 });
    expect(r.frames.map((x) => [x.connection, x.frame.type, x.frame.seq])).toEqual([
      [1, 'env.get', 1],
      [2, 'env.get', 1],
      [2, 'dns.resolve', 2],
    ]);
  });

  it('fails an outgoing connect in flight with connection_lost, and later replies are not held behind it', async () => {
    const r = await router((f, ws, n) => {
      if (n === 1) ws.terminate();
      else reply(ws, f, { type: 'dns.result', addresses: ['10.0.0.1'] });
    });

    const connect = r.conn.request({ type: 'outgoing.connect', connId: 'c1', host: 'db', port: 5432 });
    await expect(connect).rejects.toMatchObject({ code: 'connection_lost' });
    const dns = await r.conn.request({ type: 'dns.resolve', host: 'db' });

    expect(dns).toMatchObject({ type: 'dns.result', seq: 2, addresses: ['10.0.0.1'] });
    expect(r.frames.filter((x) => x.frame.type === 'outgoing.connect')).toHaveLength(1);
  });

  it('sends a read made while disconnected once the session resumes; refuses a connect at once', async () => {
    const r = await router((f, ws) => reply(ws, f, { type: 'dns.result', addresses: ['10.0.0.2'] }));
    const dropped = new Promise((res) => r.conn.once('dropped', res));
    r.conn.peer.socket.drop();
    await dropped;

    const connect = r.conn.request({ type: 'outgoing.connect', connId: 'c1', host: 'db', port: 5432 });
    const dns = r.conn.request({ type: 'dns.resolve', host: 'db' });

    await expect(connect).rejects.toMatchObject({ code: 'not_connected' });
    expect(await dns).toMatchObject({ seq: 2, addresses: ['10.0.0.2'] });
    expect(r.frames.map((x) => [x.connection, x.frame.type])).toEqual([[2, 'dns.resolve']]);
  });

  it('holds an answer that finds the connection down and sends it after the resume', async () => {
    const r = await router(() => {});
    const dropped = new Promise((res) => r.conn.once('dropped', res));
    r.conn.peer.socket.drop();
    await dropped;

    r.conn.sendOrHold({ type: 'response', requestId: 'east:1', status: 200, headers: {} });
    r.conn.sendOrHold({ type: 'response', requestId: 'east:2', status: 200, headers: {} }, -1); // already too old
    await new Promise((res) => r.conn.once('connected', res));
    await new Promise((res) => setTimeout(res, 100));

    expect(
      r.frames.filter((x) => x.frame.type === 'response').map((x) => [x.connection, x.frame.requestId]),
    ).toEqual([[2, 'east:1']]);
  });
});

describe('session client replaced by a newer connection', () => {
  it.each([
    ['the error frame alone (AWS: the close carries no code)', (ws: WebSocket) => ws.send(replacedFrame)],
    [
      'the 4001 close alone (the local gateway)',
      (ws: WebSocket) => ws.close(4001, 'replaced by a newer connection'),
    ],
    [
      'both',
      (ws: WebSocket) => {
        ws.send(replacedFrame);
        ws.close(4001, 'replaced by a newer connection');
      },
    ],
  ])('is gone, and does not dial again to take the session back: %s', async (_how, replace) => {
    // Prepare
    let socket: WebSocket | undefined;
    const r = await router(() => {});
    const gone = new Promise<{ code: string; message: string }>((res) => r.conn.once('gone', res));
    server!.clients.forEach((ws) => {
      socket = ws;
    });
    // Act
    replace(socket!);
    // Assess
    const reason = await gone;
    expect(reason.message).toContain('replaced by a newer connection');
    await new Promise((res) => setTimeout(res, 600)); // past the first redial delay
    expect(r.connections()).toBe(1);
  });
});

const replacedFrame = JSON.stringify({
  v: 1,
  type: 'error',
  code: 'connection_replaced',
  message: 'replaced by a newer connection',
  closeCode: 4001,
});

describe('session client when the stateful connector replica goes away', () => {
  it('sends reads in flight again on replica_gone, takes one reply each, and fails a connect in flight', async () => {
    let told = false;
    const r = await router((f, ws) => {
      // The replica that got the first frames dies without answering; the router says so once.
      if (!told && f.type === 'outgoing.connect') {
        told = true;
        ws.send(
          JSON.stringify({
            v: 1,
            type: 'error',
            code: 'replica_gone',
            message: "replica 'east-a' went away",
          }),
        );
        return;
      }
      if (told && f.type === 'env.get') {
        reply(ws, f, { type: 'env.result', env: { REPLICA: 'east-b' } });
        reply(ws, f, { type: 'env.result', env: { REPLICA: 'duplicate' } });
      }
    });
    const gone = new Promise((res) => r.conn.once('replica-gone', res));

    const env = r.conn.request({ type: 'env.get', service: 'api' });
    const connect = r.conn.request({ type: 'outgoing.connect', connId: 'c1', host: 'db', port: 5432 });

    await expect(connect).rejects.toMatchObject({ code: 'connection_lost' });
    expect(await env).toMatchObject({ type: 'env.result', seq: 1, env: { REPLICA: 'east-b' } });
    expect(await gone).toMatchObject({ code: 'replica_gone' });
    // The read went out twice (before and after), the connect once; all on the same connection.
    expect(r.frames.map((x) => [x.connection, x.frame.type])).toEqual([
      [1, 'env.get'],
      [1, 'outgoing.connect'],
      [1, 'env.get'],
    ]);
  });
});

describe('heartbeatEvery', () => {
  it.each([
    // [session timeout, expected interval]
    [120_000, 20_000], // the default: capped at 20 s
    [30_000, 10_000], // a third of the timeout
    [5_000, 1_666],
    [300, 250], // never faster than every 250 ms
  ])('a %i ms session timeout gives a heartbeat every %i ms', (timeout, every) => {
    const createdAt = new Date(1_700_000_000_000).toISOString();
    const expiresAt = new Date(1_700_000_000_000 + timeout).toISOString();
    expect(heartbeatEvery({ createdAt, expiresAt })).toBe(every);
  });

  it('falls back to 20 s when the router does not say', () => {
    expect(heartbeatEvery({})).toBe(20_000);
  });
});

describe('session client: streams put back in order', () => {
  it('hands a streamed request and its body on in order whatever order they came in, and numbers its answer', async () => {
    // Prepare: the "router" sends a stolen request's frames reversed: close, data 2, data 1, head.
    let socket: WebSocket | undefined;
    const r = await router((_f, ws) => {
      socket = ws;
    });
    r.conn.send({ type: 'unsubscribe', subId: 's' });
    await new Promise<void>((resolve) => {
      const wait = () => (socket ? resolve() : setTimeout(wait, 10));
      wait();
    });
    const seen: string[] = [];
    r.conn.on('request', (m: Frame) => seen.push(`request ${m.requestId}`));
    r.conn.on('request-stream', (m: Frame) =>
      seen.push(
        m.type === 'data' ? `data ${Buffer.from(String(m.data), 'base64')}` : `close ${m.reason ?? ''}`,
      ),
    );
    const send = (f: Record<string, unknown>) => socket!.send(JSON.stringify({ v: 1, ...f }));
    const b64 = (t: string) => Buffer.from(t).toString('base64');

    // Act
    send({ type: 'close', requestId: 'east:r1', part: 3 });
    send({ type: 'data', requestId: 'east:r1', data: b64('two'), part: 2 });
    send({ type: 'data', requestId: 'east:r1', data: b64('one'), part: 1 });
    send({
      type: 'request',
      requestId: 'east:r1',
      subId: 's1',
      mode: 'steal',
      method: 'POST',
      path: '/',
      headers: {},
      stream: true,
    });
    r.conn.sendOrHold({ type: 'response', requestId: 'east:r1', status: 200, headers: {}, stream: true });
    r.conn.sendOrHold({ type: 'data', requestId: 'east:r1', data: b64('a') });
    r.conn.sendOrHold({ type: 'data', requestId: 'east:r1', data: b64('b') });
    r.conn.sendOrHold({ type: 'close', requestId: 'east:r1' });
    r.conn.sendOrHold({ type: 'close', requestId: 'east:r2', reason: 'cut' });
    const answer = await eventuallyFrames(r.frames, 5);

    // Assess
    expect(seen).toEqual(['request east:r1', 'data one', 'data two', 'close ']);
    expect(answer.map((f) => [f.type, f.part])).toEqual([
      ['response', undefined],
      ['data', 1],
      ['data', 2],
      ['close', 3],
      ['close', undefined],
    ]);
  });
});

async function eventuallyFrames(frames: { frame: Frame }[], count: number): Promise<Frame[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const got = frames.map((f) => f.frame).filter((f) => f.requestId !== undefined);
    if (got.length >= count) return got;
    if (Date.now() > deadline) throw new Error(`only ${got.length} of ${count} frames arrived`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
