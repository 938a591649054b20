import { type ClientHttp2Session, connect, constants } from 'node:http2';
import { Writable } from 'node:stream';
import { UpstreamUnreachableError } from './errors.ts';
import { fromHeaderObject, toHttp2Headers } from './headers.ts';
import type { Exchange, ExchangeEvents, Upstream, UpstreamHead } from './upstream.ts';

const NO_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS']);

/**
 * HTTP/2 by prior knowledge (h2c) to an upstream that speaks it, such as a gRPC server: one
 * session multiplexes every request, and is opened again when the upstream closes it.
 */
export class H2cUpstream implements Upstream {
  readonly protocol = 'h2c';
  readonly host: string;
  private session?: ClientHttp2Session;

  constructor(
    private readonly service: string,
    private readonly origin: string,
  ) {
    this.host = new URL(origin).host;
  }

  private current(): ClientHttp2Session {
    const live = this.session;
    if (live && !live.closed && !live.destroyed) return live;
    const session = connect(this.origin);
    // A session error also fails its streams, which report it; this keeps it from throwing.
    session.on('error', () => {});
    const forget = () => {
      if (this.session === session) this.session = undefined;
    };
    session.on('close', forget);
    session.on('goaway', forget);
    this.session = session;
    return session;
  }

  open(head: UpstreamHead, events: ExchangeEvents): Exchange {
    let answered = false;
    let trailers: string[] = [];
    const fail = (cause: string) => {
      if (answered) return;
      answered = true;
      events.failed(new UpstreamUnreachableError(this.service, cause));
    };
    const headers = toHttp2Headers(head.headers, {
      ':method': head.method,
      ':path': head.path,
      ':scheme': 'http',
      // gRPC servers insist on it; the ingress relays trailers whatever the client's protocol.
      te: 'trailers',
    });
    let stream: ReturnType<ClientHttp2Session['request']>;
    try {
      stream = this.current().request(headers, {
        endStream: NO_BODY.has(head.method) && headers['content-length'] === undefined,
      });
    } catch (err) {
      // A session that cannot even start a stream: the body has nowhere to go.
      const sink = new Writable({ write: (_chunk, _enc, done) => done() });
      queueMicrotask(() => fail((err as NodeJS.ErrnoException).code ?? String(err)));
      return { sink, endBody() {}, setTrailers() {}, abort() {} };
    }
    stream.on('continue', () => events.continue());
    stream.on('trailers', (t) => {
      trailers = fromHeaderObject(t);
    });
    stream.on('response', (h, flags) => {
      answered = true;
      events.response({
        status: Number(h[':status'] ?? 502),
        headers: fromHeaderObject(h),
        body: stream,
        headOnly: (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0,
        trailers: () => trailers,
      });
    });
    stream.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
    stream.on('close', () => fail(`stream closed (code ${stream.rstCode})`));
    return {
      sink: stream,
      endBody: () => {
        stream.end();
      },
      // Request trailers are rare outside HTTP/1 chunked uploads; over h2c the body just ends.
      setTrailers() {},
      abort() {
        answered = true;
        stream.close(constants.NGHTTP2_CANCEL);
      },
    };
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
