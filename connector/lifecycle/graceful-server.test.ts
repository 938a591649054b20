import { Agent, createServer, request, type Server } from 'node:http';
import { createServer as createH2Server, connect as h2connect } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { GracefulServer } from './graceful-server.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A server whose /slow requests wait until the test releases them. */
async function start(): Promise<{
  server: Server;
  graceful: GracefulServer;
  port: number;
  release: () => void;
}> {
  const waiting: (() => void)[] = [];
  const server = createServer((req, res) => {
    if (req.url === '/slow') waiting.push(() => res.end('slow done'));
    else res.end('fast');
  });
  const graceful = new GracefulServer(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    server,
    graceful,
    port: (server.address() as AddressInfo).port,
    release: () => {
      for (const w of waiting.splice(0)) w();
    },
  };
}

function get(
  port: number,
  path: string,
  agent: Agent | false = false,
): Promise<{ status: number; body: string; connection?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', path, agent }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode!, body, connection: res.headers.connection }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('GracefulServer', () => {
  it('keeps connections alive until the drain, then answers with Connection: close', async () => {
    const { graceful, port } = await start();
    const agent = new Agent({ keepAlive: true });
    cleanup.push(() => agent.destroy());
    expect((await get(port, '/', agent)).connection).toBe('keep-alive');
    graceful.drain();
    const during = await get(port, '/', agent);
    expect(during).toMatchObject({ status: 200, body: 'fast', connection: 'close' });
  });

  it('lets an in-flight request finish after it stopped accepting, then settles', async () => {
    const { graceful, port, release } = await start();
    const slow = get(port, '/slow');
    await new Promise((r) => setTimeout(r, 50));
    expect(graceful.connections).toBe(1);
    graceful.stopAccepting();
    // New connections are refused; the one in flight is not cut.
    await expect(get(port, '/')).rejects.toThrow(/ECONNREFUSED/);
    let settled = false;
    const done = graceful.settled().then(() => {
      settled = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    release();
    expect((await slow).body).toBe('slow done');
    await done;
    expect(graceful.connections).toBe(0);
  });

  it('cuts what is left on destroyAll', async () => {
    const { graceful, port } = await start();
    const slow = get(port, '/slow');
    await new Promise((r) => setTimeout(r, 50));
    graceful.destroyAll();
    await expect(slow).rejects.toThrow();
    await graceful.settled();
    expect(graceful.connections).toBe(0);
  });

  it('sends HTTP/2 clients a GOAWAY on the drain, and lets their stream in flight finish', async () => {
    const waiting: (() => void)[] = [];
    const server = createH2Server((_req, res) => waiting.push(() => res.end('h2 done')));
    const graceful = new GracefulServer(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanup.push(() => new Promise((r) => server.close(r)));
    const client = h2connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    cleanup.push(() => client.destroy());
    const goaway = new Promise((r) => client.once('goaway', r));
    const stream = client.request({ ':path': '/' });
    let body = '';
    stream.on('data', (c) => {
      body += c;
    });
    const ended = new Promise((r) => stream.on('end', r));
    await new Promise((r) => setTimeout(r, 50));
    graceful.drain();
    await goaway;
    for (const w of waiting.splice(0)) w();
    await ended;
    expect(body).toBe('h2 done');
    graceful.stopAccepting();
    await graceful.settled();
  });
});
