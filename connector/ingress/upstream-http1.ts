import { connect as netConnect, type Socket } from 'node:net';
import { Readable, Writable } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { UpstreamUnreachableError } from './errors.ts';
import { type ResponseHead, ResponseParser } from './response-parser.ts';
import type { Exchange, ExchangeEvents, Upstream, UpstreamHead } from './upstream.ts';

/** How long an idle pooled connection is kept when the upstream gives no `Keep-Alive` hint. */
const DEFAULT_IDLE_MS = 15_000;
const MAX_IDLE_SOCKETS = 1024;

interface Pooled {
  socket: Socket;
  drop: () => void;
}

/**
 * HTTP/1.1 to the upstream over a keep-alive pool of plain sockets. The newest idle
 * connection is reused first (LIFO), so a quiet period lets the rest idle out; an idle
 * connection is dropped a second before the upstream's `Keep-Alive: timeout` would close it,
 * and a request without a body that finds its reused connection closed under it is retried
 * once on a fresh one, so that race never shows as a 502.
 */
export class Http1Upstream implements Upstream {
  readonly protocol = 'http1';
  readonly host: string;
  private readonly hostname: string;
  private readonly port: number;
  private readonly tls: boolean;
  private readonly idle: Pooled[] = [];
  private readonly active = new Set<Socket>();
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

  /** A connection for one exchange: an idle one, or a new one. */
  take(): { socket: Socket; reused: boolean } {
    for (let p = this.idle.pop(); p; p = this.idle.pop()) {
      const s = p.socket;
      s.setTimeout(0);
      s.off('close', p.drop);
      s.off('error', p.drop);
      s.off('data', p.drop);
      s.off('timeout', p.drop);
      if (s.destroyed || !s.writable) continue;
      this.active.add(s);
      return { socket: s, reused: true };
    }
    const socket = this.tls
      ? tlsConnect({
          host: this.hostname,
          port: this.port,
          servername: this.hostname,
          ALPNProtocols: ['http/1.1'],
        })
      : netConnect({ host: this.hostname, port: this.port });
    socket.setNoDelay(true);
    this.active.add(socket);
    return { socket, reused: false };
  }

  /** Back to the pool after a complete exchange, or closed. */
  /** Back to the pool after a complete exchange (its listeners already off), or closed. */
  release(socket: Socket, reusable: boolean, head?: ResponseHead): void {
    this.active.delete(socket);
    if (!reusable || this.closed || socket.destroyed || this.idle.length >= MAX_IDLE_SOCKETS) {
      socket.destroy();
      return;
    }
    const idleMs = head?.keepAliveSeconds
      ? Math.max(head.keepAliveSeconds * 1000 - 1000, 500)
      : DEFAULT_IDLE_MS;
    const entry: Pooled = {
      socket,
      drop: () => {
        socket.destroy();
        const i = this.idle.indexOf(entry);
        if (i >= 0) this.idle.splice(i, 1);
      },
    };
    socket.on('close', entry.drop);
    socket.on('error', entry.drop);
    // Bytes from an idle upstream are not an answer to anything: drop the connection.
    socket.on('data', entry.drop);
    socket.setTimeout(idleMs);
    socket.on('timeout', entry.drop);
    socket.resume();
    this.idle.push(entry);
  }

  unreachable(cause: string): UpstreamUnreachableError {
    return new UpstreamUnreachableError(this.service, cause);
  }

  close(): void {
    this.closed = true;
    for (const p of this.idle.splice(0)) p.socket.destroy();
    for (const s of this.active) s.destroy();
    this.active.clear();
  }
}

const CHUNK_END = Buffer.from('\r\n');

/** One request/response on one pooled connection. */
class Http1Exchange implements Exchange {
  readonly sink: Writable;
  private socket!: Socket;
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
    this.sink = new Writable({
      write: (chunk: Buffer, _enc, done) => this.writeBody(chunk, done),
      final: (done) => this.finishBody(done),
    });
    // A refused or failed exchange reports through `events`; the sink just stops taking bytes.
    this.sink.on('error', () => {});
    this.connect();
  }

  private readonly onData = (chunk: Buffer) => {
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.fail(err as Error);
    }
  };
  private readonly onSocketEnd = () => {
    try {
      this.parser.close();
    } catch (err) {
      this.fail(err as Error);
    }
  };
  private readonly onError = (err: Error) => this.fail(err);
  private readonly onClose = () => this.fail(new Error('connection closed'));

  private connect(): void {
    const { socket, reused } = this.pool.take();
    this.socket = socket;
    this.reused = reused;
    this.parser = new ResponseParser(this.req.method === 'HEAD', {
      head: (head, interim) => this.onHead(head, interim),
      body: (chunk) => {
        if (this.body && !this.body.push(chunk)) socket.pause();
      },
      end: (trailers) => this.onEnd(trailers),
    });
    socket.on('data', this.onData);
    socket.on('end', this.onSocketEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
    // The head and a small body (written in the same tick) leave in one write.
    socket.cork();
    socket.write(this.headBytes);
    queueMicrotask(() => socket.uncork());
  }

  /** This exchange is over with its connection: its listeners come off, the pool decides. */
  private letGo(reusable: boolean): void {
    const s = this.socket;
    s.off('data', this.onData);
    s.off('end', this.onSocketEnd);
    s.off('error', this.onError);
    s.off('close', this.onClose);
    this.pool.release(s, reusable, this.head);
  }

  private writeBody(chunk: Buffer, done: (err?: Error | null) => void): void {
    if (this.over || this.responseDone) {
      done();
      return;
    }
    if (this.req.body === 'chunked') {
      if (chunk.length === 0) {
        done();
        return;
      }
      this.socket.cork();
      this.socket.write(`${chunk.length.toString(16)}\r\n`);
      this.socket.write(chunk);
      this.socket.write(CHUNK_END, () => done());
      this.socket.uncork();
    } else this.socket.write(chunk, () => done());
  }

  private finishBody(done: (err?: Error | null) => void): void {
    this.requestDone = true;
    if (!this.over && !this.responseDone && this.req.body === 'chunked') {
      let end = '0\r\n';
      const t = this.requestTrailers;
      for (let i = 0; i < t.length; i += 2) end += `${t[i]}: ${t[i + 1]}\r\n`;
      this.socket.write(`${end}\r\n`);
    }
    done();
    this.settle();
  }

  private onHead(head: ResponseHead, interim: boolean): void {
    if (interim) {
      if (head.status === 100) this.events.continue();
      return;
    }
    this.head = head;
    const socket = this.socket;
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
    if (!this.requestDone) {
      // Answered before the request finished (an early refusal): the rest of the body would
      // arrive on a connection that has moved on, so this one closes.
      this.over = true;
      this.letGo(false);
      return;
    }
    this.over = true;
    this.letGo(!this.head?.closes);
  }

  private fail(err: Error & { code?: string }): void {
    if (this.over) return;
    if (!this.head) {
      // A reused connection the upstream had just closed: retry once, when nothing of a body
      // has been sent yet (a request without one is safe to send again).
      if (this.reused && !this.retried && this.req.body === 'none' && !this.parser.started) {
        this.retried = true;
        this.letGo(false);
        this.connect();
        return;
      }
      this.over = true;
      this.letGo(false);
      this.events.failed(this.pool.unreachable(err.code ?? err.message));
      return;
    }
    this.over = true;
    this.letGo(false);
    this.body?.destroy(err);
  }

  setTrailers(flat: string[]): void {
    this.requestTrailers = flat;
  }

  abort(): void {
    if (this.over) return;
    this.over = true;
    this.letGo(false);
    this.body?.destroy();
  }
}
