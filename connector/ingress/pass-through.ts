import type { ServerResponse } from 'node:http';
import type { SwitchyardError } from '../../shared/errors/errors.ts';
import { gatewayErrorBody, UpstreamTimeoutError } from './errors.ts';
import { clientResponseHeaders, toHttp2Headers, upstreamRequestHeaders } from './headers.ts';
import { type InboundRequest, type InboundResponse, isHttp2, remoteAddressOf } from './inbound.ts';
import type { Upstream, UpstreamHead, UpstreamResponse } from './upstream.ts';

export interface PassThroughContext {
  service: string;
  upstream: Upstream;
  /** How long the upstream may take to start its answer before the client gets 504. */
  timeoutMs: number;
}

export interface PassThroughOptions {
  /** Body already read off the request (a steal that fell back); sent first. */
  prefix?: Buffer[];
  /** Whether `prefix` is the whole body. */
  bodyDone?: boolean;
  /** Sees each body chunk as it streams (a mirror's copy); must not block. */
  tap?: (chunk: Buffer) => void;
}

/**
 * Streams a request to the upstream and its answer back, in both directions at the pace of the
 * slower side (pipe's backpressure), so nothing is buffered whatever the size: a 1 GiB upload,
 * a server-sent event stream, a long poll. Trailers and `100 Continue` are relayed.
 */
export function passThrough(
  ctx: PassThroughContext,
  req: InboundRequest,
  res: InboundResponse,
  opts: PassThroughOptions = {},
): void {
  const headers = upstreamRequestHeaders(
    req.rawHeaders,
    { remoteAddress: remoteAddressOf(req), proto: 'http' },
    ctx.upstream.host,
  );
  let settled = false;
  const timer = setTimeout(() => {
    if (settled) return;
    exchange.abort();
    fail(new UpstreamTimeoutError(ctx.service, ctx.timeoutMs));
  }, ctx.timeoutMs);
  const fail = (err: SwitchyardError) => {
    settled = true;
    clearTimeout(timer);
    sendGatewayError(res, err);
  };
  const body = framingOf(req);
  const exchange = ctx.upstream.open(
    { method: req.method ?? 'GET', path: req.url ?? '/', headers, body },
    {
      continue: () => res.writeContinue(),
      response: (up) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        relayResponse(up, res);
      },
      failed: (err) => {
        if (!settled) fail(err);
      },
    },
  );
  // The client went away first: stop the upstream's work too.
  res.once('close', () => {
    if (!res.writableFinished) {
      settled = true;
      clearTimeout(timer);
      exchange.abort();
    }
  });

  if (body === 'none' && !opts.tap && !opts.prefix) {
    exchange.endBody();
    return;
  }
  const sink = exchange.sink;
  for (const chunk of opts.prefix ?? []) sink.write(chunk);
  if (opts.bodyDone) {
    sink.end();
    return;
  }
  if (opts.tap) req.on('data', opts.tap);
  // Registered before pipe's own 'end' handler, so trailers go out before the body ends.
  req.once('end', () => {
    const trailers = req.rawTrailers;
    if (trailers.length > 0) exchange.setTrailers(trailers);
  });
  req.pipe(sink);
}

/** How the client framed its body, which the upstream request keeps (HTTP/2 has no framing: chunked). */
function framingOf(req: InboundRequest): UpstreamHead['body'] {
  const h = req.headers;
  if (h['content-length'] !== undefined) return 'length';
  if ('stream' in req) return req.stream.endAfterHeaders ? 'none' : 'chunked';
  return h['transfer-encoding'] !== undefined ? 'chunked' : 'none';
}

function relayResponse(up: UpstreamResponse, res: InboundResponse): void {
  const headers = clientResponseHeaders(up.headers);
  if (isHttp2(res) && up.headOnly) {
    // Relayed as a head-only answer too: a gRPC client reads a trailers-only reply's status
    // from it, and would take headers followed by an empty body as a broken call.
    if (!Buffer.isBuffer(up.body)) up.body.resume();
    res.stream.respond({ ...toHttp2Headers(headers), ':status': up.status }, { endStream: true });
    return;
  }
  if (Buffer.isBuffer(up.body)) {
    // The whole answer at once: head and body leave in one write.
    if (isHttp2(res)) res.writeHead(up.status, toHttp2Headers(headers));
    else res.writeHead(up.status, headers);
    res.end(up.body);
    return;
  }
  if (isHttp2(res)) res.writeHead(up.status, toHttp2Headers(headers));
  else {
    // Head, body and end of a small answer all arrive in one read of the upstream socket: held
    // until that read's callbacks are done, they leave in one write instead of three. A
    // microtask runs after the read's 'data' and 'end' (both nextTick), and before any other I/O,
    // so a streamed answer's first chunk (an SSE event) is not held back.
    res.cork();
    queueMicrotask(() => res.uncork());
    res.writeHead(up.status, headers);
  }
  const body = up.body;
  // An upstream that dies mid-answer must not look like a complete answer: cut the client off.
  body.once('error', () => res.destroy());
  body.once('end', () => {
    const trailers = up.trailers();
    if (trailers.length > 0) res.addTrailers(toHttp2Headers(trailers) as Record<string, string>);
    res.end();
  });
  // pipe() without its bookkeeping (a request's worth of listeners on both streams): the
  // upstream is paused while the client's socket is full.
  const resume = () => body.resume();
  body.on('data', (chunk: Buffer) => {
    if (!(res as ServerResponse).write(chunk)) {
      body.pause();
      res.once('drain', resume);
    }
  });
}

/** A short answer naming the connector, or a cut connection if the head has already gone out. */
export function sendGatewayError(res: InboundResponse, err: SwitchyardError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = gatewayErrorBody(err);
  res.writeHead(err.httpStatus, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-switchyard-error': err.code,
  });
  res.end(body);
}
