import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Msg, until } from '../../test/helpers/frame-sink.ts';
import { LocalAnswers, type Req } from './local-answer.ts';
import type { UpgradeClosed } from './local-upgrade.ts';

/**
 * A local app speaking a made-up protocol after `Upgrade: shout`: it sends `hello;` at once, then
 * echoes every byte upper-cased, and ends when it reads `bye`. `/no` is refused with a 426.
 */
let app: Server;
let port: number;
const appSockets: Socket[] = [];

beforeAll(async () => {
  app = createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' });
    res.end('upgrade required');
  });
  app.on('upgrade', (req, socket: Socket) => {
    if (req.url === '/no') {
      socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 7\r\nconnection: close\r\n\r\nrefused');
      return;
    }
    appSockets.push(socket);
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: shout\r\nconnection: Upgrade\r\n\r\nhello;');
    socket.on('data', (c: Buffer) => {
      if (c.toString().includes('bye')) socket.end('BYE');
      else socket.write(c.toString().toUpperCase());
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', () => r()));
  port = (app.address() as AddressInfo).port;
});

afterAll(() => app.close());

function setup(onPort = port) {
  const sent: Msg[] = [];
  const closed: UpgradeClosed[] = [];
  const answers = new LocalAnswers({ sendOrHold: (m: Msg) => void sent.push(m) }, onPort);
  answers.upgrades.onClosed = (c) => closed.push(c);
  const bytes = () =>
    Buffer.concat(
      sent.filter((m) => m.type === 'data').map((m) => Buffer.from(String(m.data), 'base64')),
    ).toString();
  return { sent, closed, answers, bytes };
}

const upgrade = (path: string, extra: Partial<Req> = {}): Req => ({
  requestId: `east:${path}`,
  mode: 'steal',
  method: 'GET',
  path,
  headers: { upgrade: 'shout', connection: 'upgrade' },
  stream: true,
  upgrade: true,
  cluster: 'east',
  ...extra,
});

describe('LocalUpgrades', () => {
  it('tunnels an upgrade both ways: the 101 as a streamed response, bytes as data, the app’s end as close', async () => {
    // Prepare
    const t = setup();
    const r = upgrade('/talk');

    // Act: the client's first bytes arrive before the app has switched; they wait for it.
    const status = t.answers.answer(r);
    t.answers.onStream({ type: 'data', requestId: r.requestId, data: Buffer.from('abc').toString('base64') });
    expect(await status).toBe(101);
    await until(() => t.bytes() === 'hello;ABC');
    t.answers.onStream({ type: 'data', requestId: r.requestId, data: Buffer.from('bye').toString('base64') });
    await until(() => t.closed.length === 1);

    // Assess
    expect(t.sent[0]).toMatchObject({
      type: 'response',
      requestId: r.requestId,
      status: 101,
      stream: true,
      headers: { upgrade: 'shout', connection: 'Upgrade' },
    });
    expect(t.bytes()).toBe('hello;ABCBYE');
    expect(t.sent.at(-1)).toEqual({ type: 'close', requestId: r.requestId });
    expect(t.closed).toEqual([{ request: r, how: 'closed' }]);
  });

  it('cuts the app’s connection on a close with a reason, and sends nothing back', async () => {
    const t = setup();
    const r = upgrade('/cut');
    expect(await t.answers.answer(r)).toBe(101);
    const socket = appSockets.at(-1)!;
    const appClosed = new Promise((resolve) => socket.once('close', resolve));

    t.answers.onStream({ type: 'close', requestId: r.requestId, reason: 'the client went away' });
    await appClosed;
    await until(() => t.closed.length === 1);

    expect(t.closed[0]!.how).toBe('cut (the client went away)');
    expect(t.sent.filter((m) => m.type === 'close')).toEqual([]);
  });

  it('relays an app that declines the upgrade as a normal answer', async () => {
    const t = setup();
    const r = upgrade('/no');
    expect(await t.answers.answer(r)).toBe(426);
    await until(() => t.sent.length > 0);
    expect(t.sent[0]).toMatchObject({
      type: 'response',
      status: 426,
      body: Buffer.from('refused').toString('base64'),
    });
    // Not a tunnel: a later `data` for it is not written anywhere.
    t.answers.onStream({ type: 'data', requestId: r.requestId, data: 'eA==' });
    expect(t.closed).toEqual([]);
  });

  it('gives the upgrade back to the cluster when the app is not there', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const t = setup(closedPort);
    const r = upgrade('/gone');
    expect(await t.answers.answer(r)).toBeUndefined();
    expect(t.sent).toEqual([
      { type: 'response', requestId: r.requestId, status: 502, headers: {}, fallback: true },
    ]);
  });

  it('opens nothing for a mirrored upgrade', async () => {
    const t = setup();
    const before = appSockets.length;
    expect(await t.answers.answer(upgrade('/mirror', { mode: 'mirror' }))).toBeUndefined();
    expect(t.sent).toEqual([]);
    expect(appSockets.length).toBe(before);
  });
});
