import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getRequestListener } from '@hono/node-server';
import { SwitchyardError } from '../../shared/errors/errors.ts';

export class PortInUseError extends SwitchyardError {
  constructor(port: number) {
    super('port_in_use', `port ${port} is in use: pass --port <n> (or --port 0 for any free port)`, 409, {
      port,
    });
  }
}

export interface LocalHttpServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/**
 * A Node HTTP server for a fetch-style handler, on the loopback interface only. In a cluster
 * worker a listen is shared with the other workers (one port, connections spread among them)
 * unless `exclusive` is set.
 */
export async function listenHttp(
  fetch: Fetch,
  port: number,
  opts: {
    exclusive?: boolean;
    /** Answers some requests on Node's own objects before the fetch adaptor (true: answered). */
    raw?: (req: IncomingMessage, res: ServerResponse) => boolean;
  } = {},
): Promise<LocalHttpServer> {
  const { raw } = opts;
  // The adaptor's own server is this, without the hook for `raw`.
  const listener = getRequestListener(fetch);
  const server = createServer(raw ? (req, res) => raw(req, res) || listener(req, res) : listener);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err);
    server.once('error', onError);
    server.listen({ port, host: '127.0.0.1', exclusive: opts.exclusive === true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
