import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Http1Upstream } from '../../connector/ingress/upstream-http1.ts';

/**
 * The floor of a proxy written for Node: Node's HTTP server in front of the connector's own
 * upstream client, with nothing between them (no routing, no header rewriting, no timeout, no
 * streaming). It is not a usable proxy; it shows how much of the connector's cost per request
 * is Node's own, which no change to the connector's code can remove.
 */
const upstream = new Http1Upstream('api', process.argv[2]!);
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  const exchange = upstream.open(
    { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.rawHeaders, body: 'none' },
    {
      continue: () => {},
      response: (r) => {
        res.writeHead(r.status, r.headers);
        if (Buffer.isBuffer(r.body)) res.end(r.body);
        else r.body.pipe(res);
      },
      failed: () => {
        res.statusCode = 502;
        res.end();
      },
    },
  );
  exchange.endBody();
});
server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
