import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttp2Server, type Http2Server } from 'node:http2';
import {
  type AddressInfo,
  createServer as createNetServer,
  type Server as NetServer,
  type Socket,
} from 'node:net';
import type { ServiceConfig } from '../config.ts';
import { GracefulServer } from '../lifecycle/graceful-server.ts';
import { emptyStats, handleRequest, type IngressStats } from './handle.ts';
import { http2Peers, type InboundRequest, type InboundResponse } from './inbound.ts';
import { sniffProtocol } from './sniff.ts';
import type { TrafficRouter } from './types.ts';
import { handleUpgrade, type UpgradeContext } from './upgrade.ts';
import type { Upstream } from './upstream.ts';
import { H2cUpstream } from './upstream-h2c.ts';
import { Http1Upstream } from './upstream-http1.ts';

/**
 * One service's ingress, the service's data plane: every request is routed by its head to the
 * developer (steal), to both (mirror) or to the upstream, and whatever no session wants streams
 * through as a reverse proxy would pass it. HTTP/1.1 and h2c share the port.
 */
export class Ingress {
  readonly stats: IngressStats = emptyStats();
  /** The shutdown's handle on this ingress's connections (lifecycle/shutdown.ts); set by listen(). */
  graceful?: GracefulServer;
  private net?: NetServer;
  private readonly http1: Server;
  private readonly http2: Http2Server;
  private readonly upstream: Upstream;
  private readonly sockets = new Set<Socket>();
  private peerOfNextSession?: string;

  constructor(
    readonly service: ServiceConfig,
    router: TrafficRouter,
    maxBodyBytes: number,
    log: (line: Record<string, unknown>) => void,
  ) {
    this.upstream =
      service.upstreamProtocol === 'h2c'
        ? new H2cUpstream(service.name, service.upstream)
        : new Http1Upstream(service.name, service.upstream);
    const ctx: UpgradeContext = {
      service: service.name,
      upstream: this.upstream,
      timeoutMs: service.upstreamTimeoutMs,
      origin: service.upstream,
      router,
      maxBodyBytes,
      stats: this.stats,
      log,
    };
    const onRequest = (req: InboundRequest, res: InboundResponse) => handleRequest(ctx, req, res);
    // The HTTP servers never listen themselves: the sniffing server hands them sockets.
    this.http1 = createHttpServer({ keepAliveTimeout: 65_000 }, onRequest);
    // Without a 'checkContinue' listener Node answers `100 Continue` itself; the upstream should.
    this.http1.on('checkContinue', onRequest);
    this.http1.on('upgrade', (req, socket, head) => handleUpgrade(ctx, req, socket, head));
    // Node starts tracking an HTTP server's connections when it listens: the headers and request
    // timeouts and closeIdleConnections (the drain) depend on it. This one never listens itself.
    this.http1.emit('listening');
    this.http2 = createHttp2Server({}, onRequest);
    this.http2.on('checkContinue', onRequest);
    this.http2.on('session', (session) => {
      if (this.peerOfNextSession !== undefined) http2Peers.set(session, this.peerOfNextSession);
      this.peerOfNextSession = undefined;
    });
  }

  async listen(): Promise<number> {
    // No Nagle: a small answer must not wait for the client's delayed ACK.
    const net = createNetServer({ noDelay: true, keepAlive: true }, (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      sniffProtocol(
        socket,
        (s) => this.http1.emit('connection', s),
        (stream, original) => {
          // The session is made synchronously on 'connection': tag it with the real peer.
          this.peerOfNextSession = original.remoteAddress;
          this.http2.emit('connection', stream);
        },
      );
    });
    this.net = net;
    this.graceful = new GracefulServer(net, [this.http1, this.http2]);
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject);
      net.listen(this.service.ingress.port, this.service.ingress.host, () => resolve());
    });
    return (net.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const net = this.net;
    if (!net) return;
    this.net = undefined;
    const closed = new Promise<void>((resolve) => net.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.upstream.close();
    await closed;
  }
}
