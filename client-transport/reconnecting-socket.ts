import { EventEmitter } from 'node:events';
import WebSocket from 'ws';

export interface SocketOptions {
  url: string;
  /** Read on every dial, so a credential that changed on disk (a rotated Secret) is picked up. */
  headers: Record<string, string> | (() => Record<string, string>);
  /** First delay after a drop; doubles up to maxDelayMs, with jitter. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** A connection that received nothing (not even a pong) for this long is dead. */
  idleTimeoutMs?: number;
  /** How often to send a WebSocket ping (keeps API Gateway's 10 min idle timer away). */
  pingEveryMs?: number;
  /**
   * Keep dialing (with the same backoff) when the router refuses the connection, instead of
   * ending with `fatal`. For a peer that must outlive a revoked or not-yet-registered credential.
   */
  retryRefused?: boolean;
}

export type FatalReason = { status: number; code: string; message: string };

/** Why a connection was lost; `refused` when the router answered the upgrade with a refusal. */
export interface DropReason {
  why: string;
  retryInMs: number;
  attempt: number;
  refused?: FatalReason;
}

const REFUSALS = [400, 401, 403, 404, 410];

/**
 * A WebSocket that dials out and keeps dialing: exponential backoff with jitter, a liveness
 * check, and a clear end when the router says the connection can never succeed (401, 403, 404,
 * 410) or closes it with an application code (4000-4999): then it emits `fatal` and stops instead
 * of hammering.
 *
 * Events: `open` (each (re)connection), `message` (text), `drop` (lost, will retry), `fatal`.
 */
export class ReconnectingSocket extends EventEmitter {
  private ws?: WebSocket;
  private stopped = false;
  private attempt = 0;
  private timer?: NodeJS.Timeout;
  private pinger?: NodeJS.Timeout;
  private lastHeard = Date.now();
  private lastError?: string;
  private readonly opts: Required<SocketOptions>;

  constructor(opts: SocketOptions) {
    super();
    this.opts = {
      minDelayMs: 200,
      maxDelayMs: 10_000,
      idleTimeoutMs: 60_000,
      pingEveryMs: 20_000,
      retryRefused: false,
      ...opts,
    };
  }

  get connected(): boolean {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  start(): this {
    this.dial();
    return this;
  }

  private dial(): void {
    if (this.stopped) return;
    const headers = typeof this.opts.headers === 'function' ? this.opts.headers() : this.opts.headers;
    const ws = new WebSocket(this.opts.url, { headers, maxPayload: 256 * 1024 });
    this.ws = ws;
    this.lastError = undefined;
    ws.on('open', () => {
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.pinger = setInterval(() => this.checkAlive(ws), this.opts.pingEveryMs);
      this.emit('open');
    });
    ws.on('message', (data, isBinary) => {
      this.lastHeard = Date.now();
      if (!isBinary) this.emit('message', data.toString());
    });
    ws.on('pong', () => {
      this.lastHeard = Date.now();
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        let parsed: { error?: { code?: string; message?: string } } = {};
        try {
          parsed = JSON.parse(body);
        } catch {}
        const reason = {
          status,
          code: parsed.error?.code ?? `http_${status}`,
          message: parsed.error?.message ?? `the router refused the connection with HTTP ${status}`,
        };
        if (!REFUSALS.includes(status)) this.scheduleRetry(reason.message);
        else if (this.opts.retryRefused) this.scheduleRetry(reason.message, reason);
        else this.fail(reason);
      });
    });
    ws.on('error', (err) => {
      // 'close' follows; errors during connect are retried there.
      this.lastError = err.message;
      this.emit('socket-error', err);
    });
    ws.on('close', (code, reason) => {
      clearInterval(this.pinger);
      if (this.ws !== ws || this.stopped) return;
      // An application close code (4000-4999) is the router closing us on purpose (replaced by a
      // newer connection): dialing again would undo it. A connector that fails open keeps dialing.
      if (code >= 4000 && code <= 4999 && !this.opts.retryRefused) {
        this.fail({
          status: 409,
          code: `closed_${code}`,
          message: reason.toString() || `closed with ${code}`,
        });
        return;
      }
      this.scheduleRetry(this.lastError ? `connection closed (${this.lastError})` : 'connection closed');
    });
  }

  private checkAlive(ws: WebSocket): void {
    if (Date.now() - this.lastHeard > this.opts.idleTimeoutMs) {
      ws.terminate();
      return;
    }
    if (ws.readyState === WebSocket.OPEN) ws.ping();
  }

  private scheduleRetry(why: string, refused?: FatalReason): void {
    if (this.stopped || this.timer) return;
    const base = Math.min(this.opts.maxDelayMs, this.opts.minDelayMs * 2 ** this.attempt++);
    const delay = Math.round(base / 2 + Math.random() * (base / 2));
    const drop: DropReason = {
      why,
      retryInMs: delay,
      attempt: this.attempt,
      ...(refused ? { refused } : {}),
    };
    this.emit('drop', drop);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dial();
    }, delay);
  }

  private fail(reason: FatalReason): void {
    this.stop();
    this.emit('fatal', reason);
  }

  /** Sends text frames; false when not connected (the caller decides whether to queue or drop). */
  send(frames: string[]): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    for (const f of frames) ws.send(f);
    return true;
  }

  /** Bytes queued on the connection and not yet handed to the network (0 when not connected). */
  get bufferedAmount(): number {
    return this.ws?.bufferedAmount ?? 0;
  }

  /** Drops the current connection on purpose (tests, or a detected stale connection); it redials. */
  drop(): void {
    this.ws?.terminate();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.pinger);
    this.ws?.removeAllListeners('close');
    this.ws?.close();
  }
}
