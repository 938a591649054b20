import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Server, Http2Session } from 'node:http2';
import type { Server as NetServer, Socket } from 'node:net';

/** How often idle keep-alive connections are looked for once the server stopped accepting. */
const IDLE_SWEEP_MS = 50;

/**
 * Closes a listening server without failing a request: connections are tracked from accept to
 * close, so the shutdown knows when the last in-flight request (or upgraded stream) is done.
 *
 *   drain()         every response from now on says `Connection: close` (HTTP/2: a GOAWAY), so
 *                   keep-alive clients open their next connection elsewhere (to a replica that
 *                   is still ready)
 *   stopAccepting() the listen socket closes; idle keep-alive connections are closed as they
 *                   become idle (a response that started before the drain kept its keep-alive)
 *   settled()       resolves once no connection is left
 *   destroyAll()    the grace period is over: whatever is left is cut
 *
 * Works on any net.Server; the keep-alive part applies to HTTP/1.1 and HTTP/2 servers.
 */
export class GracefulServer {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Http2Session>();
  private draining = false;
  private sweeper?: NodeJS.Timeout;
  private readonly waiters: (() => void)[] = [];

  /**
   * `server` is the one that listens and accepts; `handlers` are the HTTP servers that parse what
   * it accepts (themselves, for a plain HTTP server; the HTTP/1.1 and HTTP/2 servers a sniffing
   * net server hands its sockets to).
   */
  constructor(
    private readonly server: NetServer | HttpServer | Http2Server,
    private readonly handlers: (HttpServer | Http2Server)[] = [server as HttpServer],
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => {
        this.sockets.delete(socket);
        if (this.sockets.size === 0) this.wake();
      });
    });
    for (const handler of handlers) {
      // Ahead of the handler, which may write the head before it awaits anything.
      handler.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
        if (this.draining) res.shouldKeepAlive = false;
      });
      handler.on('session', (session: Http2Session) => {
        if (this.draining) session.close();
        this.sessions.add(session);
        session.once('close', () => this.sessions.delete(session));
      });
    }
  }

  get connections(): number {
    return this.sockets.size;
  }

  drain(): void {
    this.draining = true;
    // A GOAWAY: streams in flight finish, new ones go to a new connection.
    for (const s of this.sessions) s.close();
  }

  stopAccepting(): void {
    if (!this.draining) this.drain();
    if (this.server.listening) this.server.close();
    const idle = this.handlers.filter(
      (h): h is HttpServer => typeof (h as Partial<HttpServer>).closeIdleConnections === 'function',
    );
    if (idle.length) {
      const sweep = () => {
        for (const h of idle) h.closeIdleConnections();
      };
      sweep();
      this.sweeper ??= setInterval(sweep, IDLE_SWEEP_MS);
      this.sweeper.unref();
    }
    if (this.sockets.size === 0) this.wake();
  }

  settled(): Promise<void> {
    if (this.sockets.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  destroyAll(): void {
    this.stopAccepting();
    for (const s of this.sockets) s.destroy();
  }

  private wake(): void {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const w of this.waiters.splice(0)) w();
  }
}
