import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import { type AnswerSink, DATA_FRAME_BYTES, giveBack, type Req, type StreamFrame } from './local-answer.ts';

/**
 * Whether a request is a gRPC call (`application/grpc`, `application/grpc+proto`, ...), which
 * the local app serves over HTTP/2 only. gRPC-Web (`application/grpc-web`) is plain HTTP/1.1.
 */
export function isGrpcCall(headers: Record<string, string>): boolean {
  const type = headers['content-type'];
  return type !== undefined && /^application\/grpc($|[+;])/i.test(type);
}

/**
 * A unary answer's head, message and trailers leave a gRPC server within a millisecond of each
 * other; a server stream's first message waits this long at most.
 */
const DEFAULT_COALESCE_MS = 5;

/** Headers HTTP/2 forbids (RFC 9113 8.2.2); `te` is re-added as `trailers`, which gRPC requires. */
const CONNECTION_SPECIFIC = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
]);

/**
 * gRPC calls to the local app, over one cleartext HTTP/2 connection (prior knowledge) kept and
 * reused. The call's messages stream in as the cluster's `data` frames arrive; the answer goes
 * back as it comes, with the trailers (`grpc-status`, `grpc-message`) that end every call:
 * - a trailers-only answer (an error status in the head, nothing after) as a `response` with no
 *   body, which the cluster sends as a head that ends the stream;
 * - an answer whose messages and trailers all arrive within `coalesceMs` of its head (a unary
 *   call: one frame through the router instead of three) as one `response` with its `body` and
 *   `trailers`;
 * - anything longer (a server stream) as a `response` with `stream: true`, a `data` per message
 *   chunk, and a `close` that carries the trailers.
 * A gRPC answer never goes as a `response` without trailers (the client would see a broken call),
 * unless it is trailers-only.
 */
export class LocalGrpc {
  private session?: ClientHttp2Session;
  /** Calls in flight (steal or mirror), by request id, so a client gone away stops them. */
  private readonly live = new Map<string, ClientHttp2Stream>();
  /** Calls whose messages still arrive from the cluster. */
  private readonly bodies = new Set<string>();

  /** How long the head waits for the rest of the answer to go in one frame (see the class comment). */
  private readonly coalesceMs: number;

  constructor(
    private readonly sink: AnswerSink,
    private readonly port: number,
    opts: { coalesceMs?: number } = {},
  ) {
    this.coalesceMs = opts.coalesceMs ?? DEFAULT_COALESCE_MS;
  }

  /**
   * Resolves with the app's HTTP status once its head arrives, or undefined when the app is not
   * there (a stolen call then goes back to the cluster, which serves it from its upstream).
   */
  answer(r: Req): Promise<number | undefined> {
    return new Promise((resolve) => {
      const body = Buffer.from(r.body ?? '', 'base64');
      const ends = !r.stream && body.length === 0;
      let stream: ClientHttp2Stream;
      try {
        stream = this.connection().request(this.headersOf(r), { endStream: ends });
      } catch {
        // A head HTTP/2 refuses, or a connection going away: the upstream serves the call.
        this.fallBack(r);
        resolve(undefined);
        return;
      }
      this.live.set(r.requestId, stream);
      let headSeen = false;
      /** What the answer does when the stream closes; set once the head is in. */
      let closed: (() => void) | undefined;
      stream.once('response', (head, flags) => {
        headSeen = true;
        resolve(Number(head[':status'] ?? 502));
        const headOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
        if (r.mode === 'steal') closed = this.streamBack(r, stream, head, headOnly);
        else stream.resume();
      });
      stream.once('close', () => {
        this.bodies.delete(r.requestId);
        // Still listed unless the cluster cut it: then the call is no longer ours, and needs no word back.
        if (this.live.get(r.requestId) !== stream) return;
        this.live.delete(r.requestId);
        if (headSeen) {
          closed?.();
          return;
        }
        // Refused, reset or not there at all before any answer: the upstream serves the call.
        resolve(undefined);
        this.fallBack(r);
      });
      // Each failure also closes the stream, where it is handled; the session's too.
      stream.on('error', () => {});
      if (ends) return;
      if (body.length) stream.write(body);
      if (r.stream) this.bodies.add(r.requestId);
      else stream.end();
    });
  }

  /**
   * A `data`/`close` from the cluster for a call of ours: more of its messages, their end, or
   * the call cut (the client went away). False when the request is not a call in flight here.
   */
  onStream(f: StreamFrame): boolean {
    const stream = this.live.get(f.requestId);
    if (!stream) return false;
    if (f.type === 'data') {
      if (this.bodies.has(f.requestId)) stream.write(Buffer.from(f.data, 'base64'));
      return true;
    }
    if (f.reason === undefined) {
      if (this.bodies.delete(f.requestId)) stream.end();
      return true;
    }
    this.live.delete(f.requestId);
    this.bodies.delete(f.requestId);
    stream.close(constants.NGHTTP2_CANCEL);
    return true;
  }

  /** Closes the connection to the local app. */
  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  /** The connection to the local app: the one open, or a new one when it closed (an app restart). */
  private connection(): ClientHttp2Session {
    const open = this.session;
    if (open && !open.closed && !open.destroyed) return open;
    const session = connect(`http://127.0.0.1:${this.port}`);
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    // Every call on it fails with it, and answers for itself.
    session.on('error', forget);
    session.on('goaway', forget);
    session.on('close', forget);
    // The session's WebSocket keeps the CLI running; this connection must not keep it from exiting.
    session.unref();
    this.session = session;
    return session;
  }

  private headersOf(r: Req): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(r.headers)) {
      const lower = name.toLowerCase();
      if (lower.startsWith(':') || lower === 'host' || CONNECTION_SPECIFIC.has(lower)) continue;
      out[lower] = value;
    }
    out[':method'] = r.method;
    out[':path'] = r.path;
    out[':authority'] = r.headers.host ?? `127.0.0.1:${this.port}`;
    out.te = 'trailers';
    return out;
  }

  private fallBack(r: Req): void {
    if (r.mode !== 'steal') return;
    giveBack(this.sink, r.requestId);
  }

  /**
   * The app's answer to a stolen call, back to the cluster (see the class comment for the
   * shapes). Returns what to do when the stream closes (unless the cluster cut it).
   */
  private streamBack(
    r: Req,
    stream: ClientHttp2Stream,
    head: IncomingHttpHeaders,
    headOnly: boolean,
  ): () => void {
    const requestId = r.requestId;
    const status = Number(head[':status'] ?? 502);
    const headers = flat(head);
    if (headOnly) {
      this.sink.sendOrHold({ type: 'response', requestId, status, headers });
      stream.resume();
      return () => {};
    }
    // Held a moment: a unary answer is then all in, and goes as one frame.
    let held: Buffer[] | undefined = [];
    let heldBytes = 0;
    let trailers: Record<string, string> | undefined;
    let ended = false;
    const sendData = (chunk: Buffer) => {
      for (let at = 0; at < chunk.length; at += DATA_FRAME_BYTES) {
        const data = chunk.subarray(at, at + DATA_FRAME_BYTES).toString('base64');
        this.sink.sendOrHold({ type: 'data', requestId, data });
      }
    };
    const startStream = () => {
      if (!held) return;
      const chunks = held;
      held = undefined;
      this.sink.sendOrHold({ type: 'response', requestId, status, headers, stream: true });
      for (const c of chunks) sendData(c);
    };
    const timer = setTimeout(startStream, this.coalesceMs);
    stream.on('data', (chunk: Buffer) => {
      if (!held) {
        sendData(chunk);
        return;
      }
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes > DATA_FRAME_BYTES) startStream();
    });
    stream.once('trailers', (t) => {
      trailers = flat(t);
    });
    /** Cut by the app mid-answer: the head goes out if it has not, then a `close` with a reason. */
    const cut = () => {
      startStream();
      const reason = 'the local app ended the call without its status (a reset, or no trailers)';
      this.sink.sendOrHold({ type: 'close', requestId, reason });
    };
    stream.once('end', () => {
      ended = true;
      clearTimeout(timer);
      // A reset ends the stream too; a call that ends without trailers is a broken call.
      if (!trailers) {
        cut();
        return;
      }
      if (held) {
        const body = Buffer.concat(held).toString('base64');
        held = undefined;
        this.sink.sendOrHold({ type: 'response', requestId, status, headers, body, trailers });
        return;
      }
      this.sink.sendOrHold({ type: 'close', requestId, trailers });
    });
    return () => {
      clearTimeout(timer);
      // Closed without an end (the app gone, an error): the client sees a cut call, never a complete one.
      if (!ended) cut();
    };
  }
}

/** A head or trailers as the protocol carries them: pseudo-headers left out, repeats joined. */
function flat(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(':')) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}
