import { request } from 'node:http';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';

/** One replica behind the balancer: where its traffic goes and where its readiness is asked. */
export interface Backend {
  name: string;
  host?: string;
  port: number;
  /** `http://host:port/readyz` of the replica's admin port. */
  readyUrl: string;
}

export interface BalancerOptions {
  /** How often each replica's `/readyz` is asked (the kubelet's periodSeconds, scaled down). */
  pollMs?: number;
  log?: (message: string) => void;
}

interface Endpoint extends Backend {
  ready: boolean;
}

/**
 * What stands for a Kubernetes Service on a laptop: a TCP balancer, round robin over the
 * replicas whose `/readyz` answered 200 at the last poll, as kube-proxy spreads connections over
 * a Service's ready endpoints. It works on connections, not requests, so upgrades, streams and
 * HTTP/2 pass through untouched, and a keep-alive connection stays with its replica (as it does
 * with kube-proxy).
 *
 * One thing kube-proxy does not do: a connection a replica refuses (it died between two polls)
 * is tried on the next ready replica, and the refusing one is out until its next good poll. No
 * byte was sent to the refusing replica, so nothing is replayed; nginx and Envoy do the same.
 */
export class Balancer {
  private readonly endpoints: Endpoint[] = [];
  private next = 0;
  private server?: Server;
  private poller?: NodeJS.Timeout;
  private readonly sockets = new Set<Socket>();
  private readonly pollMs: number;
  private readonly log: (message: string) => void;

  constructor(backends: Backend[] = [], opts: BalancerOptions = {}) {
    this.pollMs = opts.pollMs ?? 250;
    this.log = opts.log ?? (() => {});
    for (const b of backends) this.add(b);
  }

  /** A new replica starts out of rotation, until its first good poll. */
  add(backend: Backend): void {
    this.remove(backend.name);
    this.endpoints.push({ ...backend, ready: false });
  }

  remove(name: string): void {
    const i = this.endpoints.findIndex((e) => e.name === name);
    if (i >= 0) this.endpoints.splice(i, 1);
  }

  /** Names of the replicas in rotation. */
  ready(): string[] {
    return this.endpoints.filter((e) => e.ready).map((e) => e.name);
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    // Half-open on both sides: a client's FIN reaches the replica while its answer still flows back.
    const server = createServer({ allowHalfOpen: true }, (client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    await this.pollAll();
    this.schedulePoll();
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    clearTimeout(this.poller);
    this.poller = undefined;
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Polls every replica now (the periodic poll does the same). */
  async pollAll(): Promise<void> {
    await Promise.all(
      this.endpoints.map(async (e) => {
        const ready = await probe(e.readyUrl, Math.max(this.pollMs * 2, 500));
        if (ready !== e.ready) this.log(`balancer: ${e.name} ${ready ? 'ready' : 'not ready'}`);
        e.ready = ready;
      }),
    );
  }

  private schedulePoll(): void {
    this.poller = setTimeout(async () => {
      await this.pollAll();
      if (this.poller) this.schedulePoll();
    }, this.pollMs);
  }

  private pick(skip: Set<Endpoint>): Endpoint | undefined {
    const n = this.endpoints.length;
    for (let k = 0; k < n; k++) {
      const e = this.endpoints[(this.next + k) % n]!;
      if (e.ready && !skip.has(e)) {
        this.next = (this.next + k + 1) % n;
        return e;
      }
    }
    return undefined;
  }

  private accept(client: Socket): void {
    this.track(client);
    // Nothing is read from the client until a replica accepted the connection.
    client.pause();
    client.on('error', () => {});
    const tried = new Set<Endpoint>();
    const attempt = (): void => {
      const e = this.pick(tried);
      if (!e) {
        // No ready endpoint: the connection is refused, as a Service with no endpoints does.
        client.destroy();
        return;
      }
      tried.add(e);
      const upstream = connect({ port: e.port, host: e.host ?? '127.0.0.1', allowHalfOpen: true });
      const refused = (err: Error) => {
        upstream.destroy();
        if (e.ready) this.log(`balancer: ${e.name} refused a connection (${err.message}); out until ready`);
        e.ready = false;
        if (!client.destroyed) attempt();
      };
      upstream.once('error', refused);
      upstream.once('connect', () => {
        upstream.off('error', refused);
        this.track(upstream);
        splice(client, upstream);
      });
    };
    attempt();
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }
}

/** Both ways; a half-close is passed on (HTTP/1.0 bodies, some upgrades), a reset is a reset. */
function splice(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.resume();
  const cut = (other: Socket) => () => other.destroy();
  a.on('error', cut(b));
  b.on('error', cut(a));
  a.on('close', cut(b));
  b.on('close', cut(a));
}

function probe(url: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
