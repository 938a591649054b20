import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect, createServer as createTcpServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { type Backend, Balancer } from './balancer.ts';

const cleanup: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanup.push(() => new Promise((r) => server.close(r)));
  return (server.address() as AddressInfo).port;
}

/** A replica: an HTTP service answering its name, and an admin port whose readiness the test sets. */
async function replica(name: string): Promise<Backend & { setReady(ready: boolean): void }> {
  let ready = true;
  const service = createServer((_req, res) => res.end(name));
  const admin = createServer((req, res) => {
    res.writeHead(req.url === '/readyz' && ready ? 200 : 503);
    res.end();
  });
  const port = await listen(service);
  cleanup.push(() => service.closeAllConnections());
  const adminPort = await listen(admin);
  return {
    name,
    port,
    readyUrl: `http://127.0.0.1:${adminPort}/readyz`,
    setReady: (r) => {
      ready = r;
    },
  };
}

async function balance(backends: Backend[]): Promise<{ balancer: Balancer; url: string }> {
  // Only explicit polls: the tests decide when readiness is looked at.
  const balancer = new Balancer(backends, { pollMs: 60_000 });
  const port = await balancer.listen();
  cleanup.push(() => balancer.close());
  return { balancer, url: `http://127.0.0.1:${port}` };
}

/** A fresh connection per request, so each one is balanced. */
async function served(url: string): Promise<string> {
  const res = await fetch(url, { headers: { connection: 'close' } });
  return res.text();
}

describe('Balancer', () => {
  it('spreads connections round robin over the ready replicas', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const { balancer, url } = await balance([a, b]);
    expect(balancer.ready()).toEqual(['a', 'b']);
    const seen = [];
    for (let i = 0; i < 6; i++) seen.push(await served(url));
    expect(seen).toEqual(['a', 'b', 'a', 'b', 'a', 'b']);
  });

  it('leaves out a replica whose /readyz fails, and takes it back once it passes', async () => {
    const [a, b] = [await replica('a'), await replica('b')];
    const { balancer, url } = await balance([a, b]);
    b.setReady(false);
    await balancer.pollAll();
    expect(balancer.ready()).toEqual(['a']);
    for (let i = 0; i < 4; i++) expect(await served(url)).toBe('a');
    b.setReady(true);
    await balancer.pollAll();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add(await served(url));
    expect([...seen].sort()).toEqual(['a', 'b']);
  });

  it('refuses connections while no replica is ready, as a Service without endpoints does', async () => {
    const a = await replica('a');
    a.setReady(false);
    const { balancer, url } = await balance([a]);
    expect(balancer.ready()).toEqual([]);
    await expect(served(url)).rejects.toThrow();
  });

  it('tries the next replica when one refuses the connection, and leaves the refusing one out', async () => {
    const a = await replica('a');
    const gone = await replica('gone');
    // The replica died since its last good poll: its port refuses connections.
    const dead = createTcpServer();
    const deadPort = await listen(dead);
    await new Promise((r) => dead.close(r));
    const { balancer, url } = await balance([{ ...gone, port: deadPort }, a]);
    expect(balancer.ready()).toEqual(['gone', 'a']);
    for (let i = 0; i < 4; i++) expect(await served(url)).toBe('a');
    expect(balancer.ready()).toEqual(['a']);
  });

  it('passes a WebSocket upgrade through untouched', async () => {
    const a = await replica('a');
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    cleanup.push(() => new Promise((r) => wss.close(r)));
    wss.on('connection', (ws) => ws.on('message', (m) => ws.send(`echo ${m}`)));
    const { url } = await balance([{ ...a, port: (wss.address() as AddressInfo).port }]);
    const ws = new WebSocket(url.replace('http', 'ws'));
    cleanup.push(() => ws.terminate());
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const answer = new Promise<string>((r) => ws.once('message', (m) => r(String(m))));
    ws.send('hi');
    expect(await answer).toBe('echo hi');
  });

  it('passes a half-close on: the replica still answers after the client finished sending', async () => {
    const a = await replica('a');
    // Answers only once the client's side has ended.
    const echo = createTcpServer({ allowHalfOpen: true }, (s) => {
      let got = '';
      s.on('data', (d) => {
        got += d;
      });
      s.on('end', () => s.end(`got ${got}`));
    });
    const { url } = await balance([{ ...a, port: await listen(echo) }]);
    const client = connect({ port: Number(new URL(url).port), host: '127.0.0.1', allowHalfOpen: true });
    cleanup.push(() => client.destroy());
    let answer = '';
    client.on('data', (d) => {
      answer += d;
    });
    const ended = new Promise((r) => client.once('end', r));
    client.end('ping');
    await ended;
    expect(answer).toBe('got ping');
  });
});
