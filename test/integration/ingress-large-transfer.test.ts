import { type ChildProcess, fork } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamServer } from '../helpers/ingress.ts';

// 100 MiB each way through an ingress in its own process: bytes intact, memory flat.

const MiB = 1024 * 1024;
const TOTAL = 100 * MiB;
const RSS_BUDGET = 64 * MiB;
/** One random MiB, sent 100 times with its index stamped in: a hash catches a lost or reordered chunk. */
const block = randomBytes(MiB);
const chunk = (i: number) => {
  const c = Buffer.from(block);
  c.writeUInt32BE(i, 0);
  return c;
};
const expectedHash = (() => {
  const h = createHash('sha256');
  for (let i = 0; i < TOTAL / MiB; i++) h.update(chunk(i));
  return h.digest('hex');
})();

let child: ChildProcess;
let port: number;
let up: Awaited<ReturnType<typeof upstreamServer>>;

function ask(type: 'mark' | 'peak'): Promise<{ rss: number; peak: number }> {
  return new Promise((resolve) => {
    const on = (m: { type: string; rss: number; peak: number }) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
    child.send({ type });
  });
}

/** Writes the 100 chunks, each when the stream wants more (a client that respects backpressure). */
async function writeAll(out: NodeJS.WritableStream): Promise<void> {
  for (let i = 0; i < TOTAL / MiB; i++) {
    if (!out.write(chunk(i))) await once(out, 'drain');
  }
  out.end();
}

async function hashOf(res: IncomingMessage): Promise<{ hash: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const c of res) {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  }
  return { hash: h.digest('hex'), bytes };
}

beforeAll(async () => {
  up = await upstreamServer(async (req, res) => {
    if (req.url === '/upload') {
      const { hash, bytes } = await hashOf(req);
      res.end(JSON.stringify({ hash, bytes }));
    } else if (req.url === '/download') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      await writeAll(res);
    } else res.end('ok');
  });
  const config = {
    services: [{ name: 'api', ingress: { port: 0, host: '127.0.0.1' }, upstream: up.url }],
    maxBodyBytes: 8 * MiB,
  };
  child = fork(
    fileURLToPath(new URL('../helpers/ingress-process.ts', import.meta.url)),
    [JSON.stringify(config)],
    {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const [ready] = (await once(child, 'message')) as [{ port: number }];
  port = ready.port;
  // Warm up: the first requests load code and grow the heap once; that is not per-byte cost.
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`http://127.0.0.1:${port}/warm`);
    await res.text();
  }
});

afterAll(async () => {
  child?.disconnect();
  up?.server.closeAllConnections();
  up?.server.close();
});

describe('large bodies through the ingress (no session)', () => {
  it('passes a 100 MiB chunked upload whole, and its RSS grows by at most 64 MiB', async () => {
    const { rss: before } = await ask('mark');

    const req = httpRequest({ port, method: 'POST', path: '/upload' });
    const response = once(req, 'response') as Promise<[IncomingMessage]>;
    await writeAll(req);
    const [res] = await response;
    let text = '';
    for await (const c of res) text += c;
    const { peak } = await ask('peak');

    expect(res.statusCode).toBe(200);
    expect(JSON.parse(text)).toEqual({ hash: expectedHash, bytes: TOTAL });
    expect(peak - before).toBeLessThanOrEqual(RSS_BUDGET);
  });

  it('passes a 100 MiB download whole, and its RSS grows by at most 64 MiB', async () => {
    const { rss: before } = await ask('mark');

    const req = httpRequest({ port, path: '/download' });
    req.end();
    const [res] = (await once(req, 'response')) as [IncomingMessage];
    const got = await hashOf(res);
    const { peak } = await ask('peak');

    expect(got).toEqual({ hash: expectedHash, bytes: TOTAL });
    expect(peak - before).toBeLessThanOrEqual(RSS_BUDGET);
  });
});
