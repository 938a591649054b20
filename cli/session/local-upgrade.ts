import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { type AnswerSink, giveBack, type Req, type StreamFrame } from './local-answer.ts';

/** Raw bytes per `data` frame: as for answers (local-answer.ts), a frame is never re-chunked. */
const DATA_FRAME_BYTES = 16 * 1024;

/** Relays an answer that is not a `101` as any stolen request's answer is relayed. */
export type RelayAnswer = (r: Req, res: IncomingMessage, done: () => void) => void;

/** How an upgraded connection ended, for the CLI to say. */
export interface UpgradeClosed {
  request: Req;
  /** `closed` (either side ended it), or `cut (<why>)` by the cluster (the client went away...). */
  how: string;
}

interface Tunnel {
  /** The app's socket, once upgraded. */
  socket?: Socket;
  /** The client's bytes that came before it. */
  early: Buffer[];
  /** The client ended its side first. */
  ended: boolean;
  /** The cluster cut the connection, and why. */
  cut?: string;
}

/**
 * Stolen `Upgrade` requests (a `request` with `upgrade: true`: a WebSocket, or any other
 * protocol), opened on the local app. The app's `101` goes back as a `response` with
 * `stream: true`, and the connection becomes a tunnel: the app's bytes go as `data`, its end as
 * `close`; the cluster's `data` (the client's bytes) is written to the app, its `close` ends the
 * app's side, and a `close` with a reason cuts it. An app that declines (any other status) is
 * relayed as a normal answer; an app not there gives the request back (`fallback: true`), so
 * the cluster's own service serves the upgrade.
 */
export class LocalUpgrades {
  /** Tunnels by request id: the app's socket once upgraded, or the bytes waiting for it. */
  private readonly tunnels = new Map<string, Tunnel>();
  /** Told when a tunnel ends (the CLI prints a line). */
  onClosed?: (closed: UpgradeClosed) => void;

  constructor(
    private readonly sink: AnswerSink,
    private readonly port: number,
    private readonly relay: RelayAnswer,
  ) {}

  /** Resolves with the app's status (101 once upgraded), or undefined when the app is not there. */
  open(r: Req): Promise<number | undefined> {
    // Never mirrored (an upgraded connection has no body to copy): nothing to open for a copy.
    if (r.mode !== 'steal') return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const entry: Tunnel = { early: [], ended: false };
      this.tunnels.set(r.requestId, entry);
      let settled = false;
      const req = httpRequest({
        host: '127.0.0.1',
        port: this.port,
        method: r.method,
        path: r.path,
        headers: r.headers,
        // An upgraded socket leaves the pool for good.
        agent: false,
      });
      req.on('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
        settled = true;
        resolve(res.statusCode ?? 101);
        this.sink.sendOrHold({
          type: 'response',
          requestId: r.requestId,
          status: res.statusCode ?? 101,
          headers: flatHeaders(res),
          stream: true,
        });
        this.join(r, socket, head, entry);
      });
      req.on('response', (res: IncomingMessage) => {
        // Declined: an answer like any other, and no tunnel.
        settled = true;
        this.tunnels.delete(r.requestId);
        resolve(res.statusCode ?? 502);
        this.relay(r, res, () => {});
      });
      req.on('error', () => {
        if (settled) return;
        settled = true;
        this.tunnels.delete(r.requestId);
        resolve(undefined);
        giveBack(this.sink, r.requestId);
      });
      req.end();
    });
  }

  /** A `data`/`close` from the cluster; false when it is not about an upgraded connection. */
  onStream(f: StreamFrame): boolean {
    const t = this.tunnels.get(f.requestId);
    if (!t) return false;
    if (f.type === 'data') {
      const bytes = Buffer.from(f.data, 'base64');
      if (t.socket) t.socket.write(bytes);
      else t.early.push(bytes);
      return true;
    }
    if (f.reason === undefined) {
      // The client ended its side: so does the app's, which may still answer.
      t.ended = true;
      t.socket?.end();
      return true;
    }
    // Cut (the client went away, the cluster gave the connection up): so is the app's.
    t.cut = f.reason;
    this.tunnels.delete(f.requestId);
    t.socket?.destroy();
    return true;
  }

  private join(r: Req, socket: Socket, head: Buffer, t: Tunnel): void {
    socket.setNoDelay(true);
    let closed = false;
    const close = (reason?: string) => {
      if (closed) return;
      closed = true;
      this.sink.sendOrHold({ type: 'close', requestId: r.requestId, ...(reason ? { reason } : {}) });
    };
    const send = (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += DATA_FRAME_BYTES) {
        const slice = chunk.subarray(at, at + DATA_FRAME_BYTES);
        this.sink.sendOrHold({ type: 'data', requestId: r.requestId, data: slice.toString('base64') });
      }
    };
    if (head.length > 0) send(head);
    socket.on('data', send);
    socket.once('end', () => close());
    socket.on('error', (err) => close((err.message || 'the local app failed').slice(0, 1024)));
    socket.once('close', () => {
      this.tunnels.delete(r.requestId);
      if (t.cut === undefined) close('the local app closed the connection');
      const how = t.cut !== undefined ? `cut (${t.cut})` : 'closed';
      this.onClosed?.({ request: r, how });
    });
    if (t.cut !== undefined) {
      // Cut while the app was still answering.
      socket.destroy();
      return;
    }
    t.socket = socket;
    for (const b of t.early.splice(0)) socket.write(b);
    if (t.ended) socket.end();
  }
}

function flatHeaders(res: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers))
    if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return headers;
}
