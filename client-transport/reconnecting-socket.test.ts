import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { type DropReason, type FatalReason, ReconnectingSocket } from './reconnecting-socket.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A router stand-in that refuses any token but `good` with a 401 and the router's error body. */
async function router(): Promise<{ url: string; seen: string[] }> {
  const seen: string[] = [];
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer();
  server.on('upgrade', (req, socket, head) => {
    const auth = req.headers.authorization ?? '';
    seen.push(auth);
    if (auth !== 'Bearer good') {
      const body = JSON.stringify({
        error: { code: 'unauthorized', message: 'missing or invalid bearer token' },
      });
      socket.end(
        `HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    for (const c of wss.clients) c.terminate();
    server.closeAllConnections();
    return new Promise((r) => server.close(r));
  });
  return { url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`, seen };
}

describe('ReconnectingSocket', () => {
  it('ends with fatal on a refusal by default', async () => {
    const { url } = await router();
    const socket = new ReconnectingSocket({ url, headers: { authorization: 'Bearer bad' } });
    cleanup.push(() => socket.stop());
    const fatal = new Promise<FatalReason>((r) => socket.once('fatal', r));
    socket.start();
    expect(await fatal).toMatchObject({ status: 401, code: 'unauthorized' });
  });

  it('with retryRefused, keeps dialing after refusals, reading the headers anew each time', async () => {
    const { url, seen } = await router();
    let token = 'bad';
    const socket = new ReconnectingSocket({
      url,
      headers: () => ({ authorization: `Bearer ${token}` }),
      retryRefused: true,
      minDelayMs: 10,
      maxDelayMs: 20,
    });
    cleanup.push(() => socket.stop());
    const drops: DropReason[] = [];
    socket.on('drop', (d: DropReason) => {
      drops.push(d);
      // The credential is fixed after two refusals (a rotated Secret).
      if (drops.length === 2) token = 'good';
    });
    socket.on('fatal', () => {
      throw new Error('no fatal with retryRefused');
    });
    const open = new Promise((r) => socket.once('open', r));
    socket.start();
    await open;
    expect(drops).toHaveLength(2);
    expect(drops[0]).toMatchObject({ refused: { status: 401, code: 'unauthorized' }, attempt: 1 });
    expect(seen).toEqual(['Bearer bad', 'Bearer bad', 'Bearer good']);
    expect(socket.connected).toBe(true);
  });

  it('says why a dial failed', async () => {
    const { url } = await router();
    // Nothing listens on the port any more.
    await cleanup.pop()!();
    const socket = new ReconnectingSocket({ url, headers: {}, minDelayMs: 10_000 });
    cleanup.push(() => socket.stop());
    const drop = new Promise<DropReason>((r) => socket.once('drop', r));
    socket.start();
    expect((await drop).why).toMatch(/ECONNREFUSED/);
  });
});
