import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { isGrpcCall, LocalGrpc } from './local-grpc.ts';
import { LocalUpgrades } from './local-upgrade.ts';

/**
 * Raw bytes per `data` frame. Base64 makes 16 KB about 22 KB, which leaves room for the
 * envelope under the 32 KB frame limit, so a chunk of a streamed answer is never re-chunked.
 */
export const DATA_FRAME_BYTES = 16 * 1024;

/** A request delivered to the session, as `request` carries it (`stream`: the body follows in `data`). */
export type Req = {
  requestId: string;
  mode: 'steal' | 'mirror';
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  stream?: boolean;
  /** An `Upgrade` request (WebSocket...): see local-upgrade.ts. */
  upgrade?: boolean;
  cluster?: string;
};

/** A `data` or `close` of a request's body, or a `close` that says the client went away. */
export type StreamFrame =
  | { type: 'data'; requestId: string; data: string }
  | { type: 'close'; requestId: string; reason?: string };

type Msg = Record<string, unknown> & { type: string };

/**
 * Gives a stolen request back to the cluster, which serves it from its upstream: the local app
 * was not there to answer it.
 */
export function giveBack(sink: AnswerSink, requestId: string): void {
  sink.sendOrHold({ type: 'response', requestId, status: 502, headers: {}, fallback: true });
}

/** How answers leave: held over a drop, since the cluster waits for them until its deadline. */
export interface AnswerSink {
  sendOrHold(msg: Msg): void;
}

/**
 * Forwards requests to the local app and streams its answers back: the `response` head as soon
 * as the app's head arrives (`stream: true`), then one `data` per chunk, then `close`. An
 * answer of known length that fits one `data` goes whole in one `response`. A streamed
 * request body goes to the app as its `data` frames arrive.
 */
export class LocalAnswers {
  /** Local requests whose body still arrives from the cluster, by request id. */
  private readonly bodies = new Map<string, ClientRequest>();
  /** Local requests in flight (steal or mirror), so a client gone away stops them. */
  private readonly live = new Map<string, ClientRequest>();
  /** gRPC calls go to the app over HTTP/2. */
  private readonly grpc: LocalGrpc;
  /** Stolen upgrades, tunnelled to the app; their answer when declined is relayed from here. */
  readonly upgrades: LocalUpgrades;

  constructor(
    private readonly sink: AnswerSink,
    private readonly port: number,
  ) {
    this.grpc = new LocalGrpc(sink, port);
    this.upgrades = new LocalUpgrades(sink, port, (r, res, done) => this.streamBack(r, res, done));
  }

  /**
   * Resolves with the app's status once its head arrives, or undefined when the app is not
   * there (a stolen request then goes back to the cluster, which serves it from its upstream).
   */
  answer(r: Req): Promise<number | undefined> {
    if (r.upgrade) return this.upgrades.open(r);
    if (isGrpcCall(r.headers)) return this.grpc.answer(r);
    return new Promise((resolve) => {
      const body = Buffer.from(r.body ?? '', 'base64');
      const headers = { ...r.headers };
      // A whole body has a known length; a streamed one keeps whatever framing the client chose.
      if (!r.stream) headers['content-length'] = String(body.length);
      let headSent = false;
      const req = httpRequest({
        host: '127.0.0.1',
        port: this.port,
        method: r.method,
        path: r.path,
        headers,
      });
      this.live.set(r.requestId, req);
      const done = () => {
        this.live.delete(r.requestId);
        this.bodies.delete(r.requestId);
      };
      req.on('response', (res: IncomingMessage) => {
        headSent = true;
        resolve(res.statusCode ?? 502);
        this.streamBack(r, res, done);
      });
      req.on('error', (err) => {
        done();
        if (!headSent) {
          resolve(undefined);
          if (r.mode === 'steal') giveBack(this.sink, r.requestId);
        } else if (r.mode === 'steal') {
          this.sink.sendOrHold({ type: 'close', requestId: r.requestId, reason: reasonOf(err) });
        }
      });
      if (body.length) req.write(body);
      if (r.stream) this.bodies.set(r.requestId, req);
      else req.end();
    });
  }

  /** A `data`/`close` from the cluster: more of a request body, its end, or the client gone. */
  onStream(f: StreamFrame): void {
    if (this.grpc.onStream(f)) return;
    if (this.upgrades.onStream(f)) return;
    const body = this.bodies.get(f.requestId);
    if (f.type === 'data') {
      body?.write(Buffer.from(f.data, 'base64'));
      return;
    }
    if (f.reason === undefined) {
      this.bodies.delete(f.requestId);
      body?.end();
      return;
    }
    // Cut (the client went away, or the cluster gave the request to its upstream): stop the app.
    const req = this.live.get(f.requestId);
    this.live.delete(f.requestId);
    this.bodies.delete(f.requestId);
    req?.destroy();
  }

  private streamBack(r: Req, res: IncomingMessage, done: () => void): void {
    if (r.mode !== 'steal') {
      res.resume();
      res.on('end', done);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const length = Number(res.headers['content-length'] ?? Number.NaN);
    if (length <= DATA_FRAME_BYTES) {
      // Small and of known length: nothing to gain from streaming, one frame instead of three.
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        done();
        this.sink.sendOrHold({
          type: 'response',
          requestId: r.requestId,
          status: res.statusCode ?? 502,
          headers,
          body: Buffer.concat(chunks).toString('base64'),
        });
      });
      res.on('error', (err) => {
        done();
        this.sink.sendOrHold({ type: 'close', requestId: r.requestId, reason: reasonOf(err) });
      });
      return;
    }
    this.sink.sendOrHold({
      type: 'response',
      requestId: r.requestId,
      status: res.statusCode ?? 502,
      headers,
      stream: true,
    });
    res.on('data', (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += DATA_FRAME_BYTES) {
        const slice = chunk.subarray(at, at + DATA_FRAME_BYTES);
        this.sink.sendOrHold({ type: 'data', requestId: r.requestId, data: slice.toString('base64') });
      }
    });
    res.on('end', () => {
      done();
      this.sink.sendOrHold({ type: 'close', requestId: r.requestId });
    });
    // Cut mid-body: a `close` with a reason, so the client's connection is cut, not ended cleanly.
    res.on('aborted', () => res.destroy(new Error('the local app cut its answer')));
    res.on('error', (err) => {
      done();
      this.sink.sendOrHold({ type: 'close', requestId: r.requestId, reason: reasonOf(err) });
    });
  }
}

function reasonOf(err: Error): string {
  return (err.message || 'the local app failed').slice(0, 1024);
}
