import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The small service every path of the benchmark reaches, in a process of its own: a short JSON
 * answer (what most API calls look like), and `/bytes/<n>` streaming n bytes for the memory run.
 */
const json = Buffer.from(JSON.stringify({ id: 42, status: 'shipped', items: [{ sku: 'A-1', qty: 2 }] }));
const block = Buffer.alloc(64 * 1024, 'x');

const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const bytes = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (!bytes) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': json.length });
    res.end(json);
    return;
  }
  let left = Number(bytes[1]);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
  const pump = () => {
    while (left > 0) {
      const c = left >= block.length ? block : block.subarray(0, left);
      left -= c.length;
      if (!res.write(c)) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
});
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
