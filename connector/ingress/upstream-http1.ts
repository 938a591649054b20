import { connect as netConnect, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { UpstreamUnreachableError } from './errors.ts';
import { type ResponseHead, ResponseParser } from './response-parser.ts';
import type { Exchange, ExchangeEvents, Upstream, UpstreamHead } from './upstream.ts';

/** How long an idle pooled connection is kept when the upstream gives no `Keep-Alive` hint. */
const DEFAULT_IDLE_MS = 15_000;
const MAX_IDLE_CONNECTIONS = 1024;
const SWEEP_MS = 1000;

/**
 * One connection to the upstream. Its listeners are set once and pass events to the exchange
 * it serves, or, while it idles in the pool, close it: a pass-through request then costs no
 * listener or timer bookkeeping on the socket.
 */
class Connection {
  exchange?: Http1Exchange;
  idleSince = 0;
  idleMs = DEFAULT_IDLE_MS;

  constructor(
    readonly socket: Socket,
    pool: Http1Upstream,
  ) {
    socket.setNoDelay(true);
    // Bytes, an end or an error from an idle upstream answer nothing: the connection is dropped.
    socket.on('data', (chunk: Buffer) => (this.exchange ? this.exchange.onData(chunk) : pool.drop(this)));
    socket.on('end', () => (this.exchange ? this.exchange.onSocketEnd() : pool.drop(this)));
    socket.on('error', (err) => (this.exchange ? this.exchange.onError(err) : pool.drop(this)));
    socket.on('close', () =>
      this.exchange ? this.exchange.onError(new Error('connection closed')) : pool.drop(this),
    );
  }
}

/**
 * HTTP/1.1 to the upstream over a keep-alive pool of plain sockets (Node's own client costs
 * about as much CPU per request as the rest of the proxy). The newest idle connection is reused
 * first (LIFO), so a quiet period lets the rest idle out; an idle connection is dropped a second
 * before the upstream's `Keep-Alive: timeout` would close it, and a request without a body that
 * finds its reused connection closed under it is sent again once on a fresh one, so that race
 * never shows as a 502.
 */
export class Http1Upstream implements Upstream {
  readonly protocol = 'http1';
  readonly host: string;
  private readonly hostname: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly idle: Connection[] = [];
  private readonly active = new Set<Connection>();
  private sweeper?: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly service: string,
    upstream: string,
  ) {
    const url = new URL(upstream);
    this.tls = url.protocol === 'https:';
    this.host = url.host;
    this.hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port) || (this.tls ? 443 : 80);
  }

  open(head: UpstreamHead, events: ExchangeEvents): Exchange {
    return new Http1Exchange(this, head, events);
  }

  /** A connection for one exchange: the newest idle one still fresh, or a new one. */
  take(exchange: Http1Exchange): { conn: Connection; reused: boolean } {
    const now = Date.now();
    for (let c = this.idle.pop(); c; c = this.idle.pop()) {
      if (c.socket.destroyed || !c.socket.writable || now - c.idleSince > c.idleMs) {
        c.socket.destroy();
        continue;
      }
      c.exchange = exchange;
      this.active.add(c);
      return { conn: c, reused: true };
    }
    const socket = this.tls
      ? tlsConnect({
          host: this.hostname,
          port: this.port,
          servername: this.hostname,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host: this.hostname, port: this.port });
    const conn = new Connection(socket, this);
    conn.exchange = exchange;
    this.active.add(conn);
    return { conn, reused: false };
  }

  /** Back to the pool after a complete exchange, or closed. */
  release(conn: Connection, reusable: boolean, head?: ResponseHead): void {
    conn.exchange = undefined;
    this.active.delete(conn);
    if (!reusable || this.closed || conn.socket.destroyed || this.idle.length >= MAX_IDLE_CONNECTIONS) {
      conn.socket.destroy();
      return;
    }
    conn.idleMs =
      head?.keepAliveSeconds !== undefined
        ? Math.max(head.keepAliveSeconds * 1000 - 1000, 500)
        : DEFAULT_IDLE_MS;
    conn.idleSince = Date.now();
    if (conn.socket.isPaused()) conn.socket.resume();
    this.idle.push(conn);
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  drop(conn: Connection): void {
    conn.socket.destroy();
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Closes connections idle past their time, oldest first (they sit at the bottom). */
  private sweep(): void {
    const now = Date.now();
    while (this.idle.length > 0 && now - this.idle[0]!.idleSince > this.idle[0]!.idleMs) {
      this.idle.shift()!.socket.destroy();
    }
    if (this.idle.length === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  unreachable(cause: string): UpstreamUnreachableError {
    return new UpstreamUnreachableError(this.service, cause);
  }

  close(): void {
    this.closed = true;
    if (this.sweeper) clearInterval(this.sweeper);
    for (const c of this.idle.splice(0)) c.socket.destroy();
    for (const c of this.active) c.socket.destroy();
    this.active.clear();
  }
}

const CHUNK_END = Buffer.from('\r\n');

/** One request/response on one pooled connection. */
class Http1Exchange implements Exchange {
  private writable?: Writable;
  private conn!: Connection;
  private reused = false;
  private parser!: ResponseParser;
  private body?: Readable;
  private head?: ResponseHead;
  private trailers: string[] = [];
  private requestTrailers: string[] = [];
  private requestDone = false;
  private responseDone = false;
  private over = false;
  private retried = false;
  private readonly headBytes: string;

  constructor(
    private readonly pool: Http1Upstream,
    private readonly req: UpstreamHead,
    private readonly events: ExchangeEvents,
  ) {
    let text = `${req.method} ${req.path} HTTP/1.1\r\n`;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) text += `${h[i]}: ${h[i + 1]}\r\n`;
    if (req.body === 'chunked') text += 'transfer-encoding: chunked\r\n';
    this.headBytes = `${text}\r\n`;
    this.connect();
  }

  /** Made on first use: a request without a body never needs a stream for it. */
  get sink(): Writable {
    if (!this.writable) {
      this.writable = new Writable({
        write: (chunk: Buffer, _enc, done) => this.writeBody(chunk, done),
        final: (done) => {
          this.endBody();
          done();
        },
      });
      // A refused or failed exchange reports through `events`; the sink just stops taking bytes.
      this.writable.on('error', () => {});
    }
    return this.writable;
  }

  private connect(): void {
    const { conn, reused } = this.pool.take(this);
    this.conn = conn;
    this.reused = reused;
    this.parser = new ResponseParser(this.req.method === 'HEAD', {
      head: (head, interim, whole) => this.onHead(head, interim, whole),
      body: (chunk) => {
        if (this.body && !this.body.push(chunk)) conn.socket.pause();
      },
      end: (trailers) => this.onEnd(trailers),
    });
    // The head and a small body (written in the same tick) leave in one write.
    const socket = conn.socket;
    socket.cork();
    // Header bytes as Node read them (one char per byte): latin1 gives back each byte unchanged.
    socket.write(this.headBytes, 'latin1');
    queueMicrotask(() => socket.uncork());
  }

  onData(chunk: Buffer): void {
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onSocketEnd(): void {
    try {
      this.parser.close();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  onError(err: Error): void {
    this.fail(err);
  }

  private writeBody(chunk: Buffer, done: (err?: Error | null) => void): void {
    if (this.over || this.responseDone) {
      done();
      return;
    }
    const socket = this.conn.socket;
    if (this.req.body === 'chunked') {
      if (chunk.length === 0) {
        done();
        return;
      }
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`);
      socket.write(chunk);
      socket.write(CHUNK_END, () => done());
      socket.uncork();
    } else socket.write(chunk, () => done());
  }

  /** No more body: a chunked request gets its last chunk and trailers. */
  endBody(): void {
    if (this.requestDone) return;
    this.requestDone = true;
    if (!this.over && !this.responseDone && this.req.body === 'chunked') {
      let end = '0\r\n';
      const t = this.requestTrailers;
      for (let i = 0; i < t.length; i += 2) end += `${t[i]}: ${t[i + 1]}\r\n`;
      this.conn.socket.write(`${end}\r\n`, 'latin1');
    }
    this.settle();
  }

  private onHead(head: ResponseHead, interim: boolean, whole?: Buffer): void {
    if (interim) {
      if (head.status === 100) this.events.continue();
      return;
    }
    this.head = head;
    if (whole) {
      // Complete already: no stream to make, and the connection can go back to the pool now.
      this.responseDone = true;
      this.events.response({
        status: head.status,
        headers: head.headers,
        body: whole,
        headOnly: false,
        trailers: () => [],
      });
      this.settle();
      return;
    }
    const socket = this.conn.socket;
    this.body = new Readable({ read: () => socket.resume() });
    this.events.response({
      status: head.status,
      headers: head.headers,
      body: this.body,
      headOnly: false,
      trailers: () => this.trailers,
    });
  }

  private onEnd(trailers: string[]): void {
    this.trailers = trailers;
    this.responseDone = true;
    this.body?.push(null);
    this.settle();
  }

  /** Both directions done: the connection goes back to the pool (if the upstream keeps it). */
  private settle(): void {
    if (this.over || !this.responseDone) return;
    this.over = true;
    // Answered before the request finished (an early refusal): the rest of the body would
    // arrive on a connection that has moved on, so this one closes.
    this.pool.release(this.conn, this.requestDone && !this.head?.closes, this.head);
  }

  private fail(err: Error & { code?: string }): void {
    if (this.over) return;
    if (!this.head) {
      // A reused connection the upstream had just closed: send again once, when there was no
      // body to lose (a request without one is safe to repeat).
      if (this.reused && !this.retried && this.req.body === 'none' && !this.parser.started) {
        this.retried = true;
        this.pool.release(this.conn, false);
        this.connect();
        return;
      }
      this.over = true;
      this.pool.release(this.conn, false);
      this.events.failed(this.pool.unreachable(err.code ?? err.message));
      return;
    }
    this.over = true;
    this.pool.release(this.conn, false);
    this.body?.destroy(err);
  }

  setTrailers(flat: string[]): void {
    this.requestTrailers = flat;
  }

  abort(): void {
    if (this.over) return;
    this.over = true;
    this.pool.release(this.conn, false);
    this.body?.destroy();
  }
}
