import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { listenHttp } from '../http-server.ts';
import {
  FORWARDED_HEADER,
  OWNER_HEADER,
  ownerPortOf,
  replicaConnectionId,
  routedConnectionsApi,
} from './connection-routing.ts';

const PREFIX = '/_gateway';
const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('replica connection ids', () => {
  it.each([1, 8787, 40_000, 65_535])('carry the owner port %i in an API Gateway shaped id', (port) => {
    const id = replicaConnectionId(port);
    expect(id).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    expect(ownerPortOf(id)).toBe(port);
  });

  it('are not guessable from the port alone', () => {
    expect(replicaConnectionId(8787)).not.toBe(replicaConnectionId(8787));
  });

  it.each(['', 'short=', 'L0SM9cOFvHcCIhw==', 'has/slash0000000=', 'AAAAAAAAAAAAAAA='])(
    'name no owner for %j',
    (id) => {
      expect(ownerPortOf(id)).toBeUndefined();
    },
  );
});

/** A worker's local @connections answers: which worker answered, and what it was asked. */
function localApi(name: string, seen: string[]): Hono {
  const api = new Hono();
  api.all('*', async (c) => {
    const body = c.req.method === 'POST' ? await c.req.text() : '';
    seen.push(`${name} ${c.req.method} ${new URL(c.req.url).pathname} ${body}`.trim());
    return c.json({ answeredBy: name });
  });
  return api;
}

/** A worker: its routed @connections API on a private port of its own. */
async function worker(name: string, seen: string[]) {
  let route: (r: Request) => Promise<Response> = async () => new Response(null, { status: 503 });
  const server = await listenHttp((r) => route(r), 0, { exclusive: true });
  closers.push(() => server.close());
  route = routedConnectionsApi({
    local: localApi(name, seen),
    ownPort: server.port,
    prefix: PREFIX,
    pid: 1000 + name.length,
  });
  return { port: server.port, call: (req: Request) => route(req) };
}

const url = (id: string) => `http://127.0.0.1:1${PREFIX}/@connections/${encodeURIComponent(id)}`;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

describe('routed @connections API', () => {
  it('answers its own connections itself, naming itself as the owner', async () => {
    const seen: string[] = [];
    const a = await worker('a', seen);

    const res = await a.call(new Request(url(replicaConnectionId(a.port)), { method: 'GET' }));

    expect(await res.json()).toEqual({ answeredBy: 'a' });
    expect(res.headers.get(OWNER_HEADER)).toBe('1001');
  });

  it("forwards a post for another worker's connection to that worker, body and all", async () => {
    const seen: string[] = [];
    const a = await worker('a', seen);
    const bb = await worker('bb', seen);
    const id = replicaConnectionId(bb.port);

    const res = await a.call(new Request(url(id), { method: 'POST', body: 'hello' }));

    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ answeredBy: 'bb' });
    expect(res.headers.get(OWNER_HEADER)).toBe('1002');
    expect(seen).toEqual([`bb POST ${PREFIX}/@connections/${encodeURIComponent(id)} hello`]);
  });

  it('answers a forwarded call itself, never forwarding it again', async () => {
    const seen: string[] = [];
    const a = await worker('a', seen);
    const elsewhere = replicaConnectionId(await freePort());

    const res = await a.call(new Request(url(elsewhere), { headers: { [FORWARDED_HEADER]: '1' } }));

    expect(await res.json()).toEqual({ answeredBy: 'a' });
  });

  it('answers 410 GoneException when the owning worker is gone', async () => {
    const a = await worker('a', []);
    const dead = replicaConnectionId(await freePort());

    const res = await a.call(new Request(url(dead), { method: 'POST', body: 'x' }));

    expect(res.status).toBe(410);
    expect(res.headers.get('x-amzn-errortype')).toBe('GoneException');
  });

  it('answers 410 when something other than a worker now listens on the owner port', async () => {
    const a = await worker('a', []);
    const stranger: Server = createServer((_req, res) => res.end('not a worker'));
    await new Promise<void>((r) => stranger.listen(0, '127.0.0.1', () => r()));
    closers.push(() => new Promise<void>((r) => stranger.close(() => r())));
    const id = replicaConnectionId((stranger.address() as AddressInfo).port);

    const res = await a.call(new Request(url(id), { method: 'GET' }));

    expect(res.status).toBe(410);
  });
});
