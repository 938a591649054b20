/**
 * Streamed steal: what a developer's local app sees through the router and one connector.
 *
 *   npx tsx bench/steal/run.ts [--rounds 5]
 *
 * - server-sent events: the app writes 10 events 100 ms apart; the time until the client has
 *   the first event, and until the stream ends (buffered, both would be ~900 ms);
 * - a 4 MB answer streamed back, and a 512 KB upload streamed to the app: time and MB/s.
 * One local runtime, one connector, the CLI's session client in this process.
 */
import { createServer, request } from 'node:http';
import { parseArgs } from 'node:util';
import { startIntercept } from '../routing/intercept.ts';
import { summarize } from '../routing/stats.ts';
import { listen, startWorld } from '../routing/world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' } } });
const rounds = Number(args.rounds);
const DOWNLOAD = 4 * 1024 * 1024;
const UPLOAD = 512 * 1024;

const app = createServer((req, res) => {
  if (req.url === '/sse') {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const tick = setInterval(() => {
      res.write(`data: ${++n}\n\n`);
      if (n === 10) {
        clearInterval(tick);
        res.end();
      }
    }, 100);
    res.write('data: 0\n\n');
    return;
  }
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
  });
  req.on('end', () => {
    if (req.url === '/download') res.end(Buffer.alloc(DOWNLOAD, 'd'));
    else res.end(String(bytes));
  });
});

function exchange(url: string, method: string, body?: Buffer) {
  return new Promise<{ firstMs: number; totalMs: number; bytes: number }>((resolve, reject) => {
    const t0 = performance.now();
    let firstMs = 0;
    let bytes = 0;
    const req = request(url, { method, headers: { 'x-dev': 'bench' } }, (res) => {
      res.on('data', (c: Buffer) => {
        if (!bytes) firstMs = performance.now() - t0;
        bytes += c.length;
      });
      res.on('end', () => resolve({ firstMs, totalMs: performance.now() - t0, bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

const world = await startWorld({ clusters: 1, readyDelayMs: 0 });
const intercept = await startIntercept(world.runtime, await listen(app));
try {
  const first: number[] = [];
  const total: number[] = [];
  const down: number[] = [];
  const up: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const sse = await exchange(`${world.ingressUrl}/sse`, 'GET');
    first.push(sse.firstMs);
    total.push(sse.totalMs);
    const d = await exchange(`${world.ingressUrl}/download`, 'GET');
    if (d.bytes !== DOWNLOAD) throw new Error(`download: ${d.bytes} bytes`);
    down.push(d.totalMs);
    const u = await exchange(`${world.ingressUrl}/upload`, 'POST', Buffer.alloc(UPLOAD, 'u'));
    up.push(u.totalMs);
  }
  const p50 = (xs: number[]) => summarize(xs).p50;
  const mbps = (bytes: number, ms: number) => (bytes / 1024 / 1024 / (ms / 1000)).toFixed(1);
  console.log(`rounds: ${rounds}`);
  console.log(
    `SSE first event p50 ${p50(first).toFixed(1)} ms, whole stream p50 ${p50(total).toFixed(1)} ms`,
  );
  console.log(`4 MB answer p50 ${p50(down).toFixed(0)} ms (${mbps(DOWNLOAD, p50(down))} MB/s)`);
  console.log(`512 KB upload p50 ${p50(up).toFixed(0)} ms (${mbps(UPLOAD, p50(up))} MB/s)`);
} finally {
  await intercept.stop();
  await world.stop();
  app.close();
}
