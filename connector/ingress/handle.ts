import { pipeline, type Writable } from 'node:stream';
import { newRequestId } from '../request-id.ts';
import { decide } from './decide.ts';
import { clientResponseHeaders, flattenHeaders, fromHeaderObject, toHttp2Headers } from './headers.ts';
import { type InboundRequest, type InboundResponse, isHttp2 } from './inbound.ts';
import { MirrorTap } from './mirror-tap.ts';
import { type PassThroughContext, passThrough } from './pass-through.ts';
import { readUpTo } from './replay-buffer.ts';
import { hasBody, stealStreaming } from './steal-stream.ts';
import type { ForwardedRequest, ForwardedResponse, RequestHead, Target, TrafficRouter } from './types.ts';

/** Counters an operator (and the benchmark) reads: what went where, and what was skipped. */
export interface IngressStats {
  passedThrough: number;
  stolen: number;
  mirrored: number;
  /** Mirror copies not taken because the body was above `maxBodyBytes`. */
  mirrorSkipped: number;
  /** Matching requests served by the upstream because their body was above `maxBodyBytes`. */
  tooLargeToSteal: number;
}

export function emptyStats(): IngressStats {
  return { passedThrough: 0, stolen: 0, mirrored: 0, mirrorSkipped: 0, tooLargeToSteal: 0 };
}

export interface HandlerContext extends PassThroughContext {
  router: TrafficRouter;
  maxBodyBytes: number;
  stats: IngressStats;
  log: (line: Record<string, unknown>) => void;
}

/** One request, HTTP/1.1 or HTTP/2: routed by its head, then streamed, copied or stolen. */
export function handleRequest(ctx: HandlerContext, req: InboundRequest, res: InboundResponse): void {
  const head: RequestHead = {
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: req.headers,
    namesLowerCase: true,
  };
  const decision = decide(ctx.router, ctx.service, head);
  if (decision.steal) {
    stealRequest(ctx, req, res, decision.steal, decision.mirrors).catch((err) => {
      ctx.log({ level: 'ERROR', message: 'stolen request failed', service: ctx.service, error: String(err) });
      res.destroy();
    });
    return;
  }
  ctx.stats.passedThrough++;
  if (decision.mirrors.length === 0) {
    passThrough(ctx, req, res);
    return;
  }
  const tap = new MirrorTap(ctx.maxBodyBytes);
  req.once('end', () => {
    const body = tap.body();
    if (body === undefined) {
      ctx.stats.mirrorSkipped += decision.mirrors.length;
      ctx.log({
        level: 'WARN',
        message: `request body above ${ctx.maxBodyBytes} bytes; mirror copy skipped`,
        service: ctx.service,
        path: head.path,
      });
      return;
    }
    sendCopies(ctx, decision.mirrors, forwarded(req, body));
  });
  passThrough(ctx, req, res, { tap: tap.push });
}

async function stealRequest(
  ctx: HandlerContext,
  req: InboundRequest,
  res: InboundResponse,
  target: Target,
  mirrors: Target[],
): Promise<void> {
  // The developer is sent the body as it comes, so the ingress itself asks the client for it.
  if (req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  if (hasBody(req) && ctx.router.requestBody) {
    await stealWithBody(ctx, req, res, target, mirrors);
    return;
  }
  const read = await readUpTo(req, ctx.maxBodyBytes);
  if (!read.whole) {
    // Replayed to the upstream, prefix first: a matching upload is served, never refused.
    ctx.stats.tooLargeToSteal++;
    ctx.stats.mirrorSkipped += mirrors.length;
    reportTooLarge(ctx, req, target);
    passThrough(ctx, req, res, { prefix: read.prefix });
    return;
  }
  const request = forwarded(req, read.body);
  sendCopies(ctx, mirrors, request);
  const answer = await ctx.router.steal(target, request);
  if (answer) {
    ctx.stats.stolen++;
    writeAnswer(res, answer);
    return;
  }
  ctx.stats.passedThrough++;
  passThrough(ctx, req, res, { prefix: [read.body], bodyDone: true });
}

/** A request with a body: the body streams to the developer, a replay buffer keeps the fallback. */
async function stealWithBody(
  ctx: HandlerContext,
  req: InboundRequest,
  res: InboundResponse,
  target: Target,
  mirrors: Target[],
): Promise<void> {
  const request = forwarded(req, Buffer.alloc(0));
  if (mirrors.length) {
    // Mirrored copies are whole requests: sent once the body is in, if it fits.
    const tap = new MirrorTap(ctx.maxBodyBytes);
    req.on('data', tap.push);
    req.once('end', () => {
      const body = tap.body();
      if (body === undefined) ctx.stats.mirrorSkipped += mirrors.length;
      else sendCopies(ctx, mirrors, { ...forwarded(req, body), requestId: request.requestId });
    });
  }
  const result = await stealStreaming(ctx.router, req, target, request, ctx.maxBodyBytes);
  if (result.answer) {
    ctx.stats.stolen++;
    writeAnswer(res, result.answer);
    return;
  }
  if (result.tooLarge) {
    ctx.stats.tooLargeToSteal++;
    reportTooLarge(ctx, req, target);
  } else ctx.stats.passedThrough++;
  passThrough(ctx, req, res, { prefix: result.prefix, bodyDone: result.bodyDone });
}

/** A matching request too large to steal: logged, and its session told which request it missed. */
function reportTooLarge(ctx: HandlerContext, req: InboundRequest, target: Target): void {
  ctx.log({
    level: 'WARN',
    message: `matching request body above ${ctx.maxBodyBytes} bytes; the upstream serves it`,
    service: ctx.service,
    sessionId: target.sessionId,
    path: req.url,
  });
  ctx.router.missed?.(
    target,
    { method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers },
    { code: 'request_too_large', limit: ctx.maxBodyBytes },
  );
}

function forwarded(req: InboundRequest, body: Buffer): ForwardedRequest {
  return {
    // 128 random bits: an id a developer could guess would let them answer someone else's request.
    requestId: newRequestId(),
    method: req.method ?? 'GET',
    path: req.url ?? '/',
    headers: flattenHeaders(req.rawHeaders),
    body,
  };
}

function sendCopies(ctx: HandlerContext, mirrors: Target[], request: ForwardedRequest): void {
  for (const m of mirrors) {
    ctx.stats.mirrored++;
    ctx.router.mirror(m, request);
  }
}

function writeAnswer(res: InboundResponse, answer: ForwardedResponse): void {
  const flat = clientResponseHeaders(fromHeaderObject(answer.headers)).filter(
    (_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'content-length',
  );
  const body = answer.body;
  const trailers = answer.trailers;
  if (isHttp2(res) && Buffer.isBuffer(body) && body.length === 0 && !trailers) {
    // A head-only answer ends with its head: a gRPC client reads a trailers-only reply's status
    // from it, and would take headers followed by an empty body as a broken call.
    res.stream.respond({ ...toHttp2Headers(flat), ':status': answer.status }, { endStream: true });
    return;
  }
  // A streamed body's length is not known yet: HTTP/1.1 frames it chunked, HTTP/2 by its end.
  // Trailers need the chunked framing on HTTP/1.1 too.
  if (Buffer.isBuffer(body) && !trailers) flat.push('content-length', String(body.length));
  if (isHttp2(res)) res.writeHead(answer.status, toHttp2Headers(flat));
  else res.writeHead(answer.status, flat);
  if (Buffer.isBuffer(body)) {
    if (trailers && !addTrailers(res, trailers)) return;
    res.end(body);
    return;
  }
  // Registered before pipe's own 'end' handler, so the trailers (set by the stream's `close`,
  // read now) go out before the body ends.
  body.once('end', () => {
    if (answer.trailers) addTrailers(res, answer.trailers);
  });
  // Each chunk goes out as it comes. A cut stream cuts the client connection (never a clean end
  // of a truncated body); a client gone early destroys the stream, which tells the developer.
  if (!isHttp2(res)) res.flushHeaders();
  pipeline(body, res as unknown as Writable, (err) => {
    if (err) res.destroy();
  });
}

/** Trailers the developer sent (hop-by-hop and pseudo-headers left out); false when invalid, the client cut off. */
function addTrailers(res: InboundResponse, trailers: Record<string, string>): boolean {
  try {
    res.addTrailers(
      toHttp2Headers(clientResponseHeaders(fromHeaderObject(trailers))) as Record<string, string>,
    );
    return true;
  } catch {
    // A name or value HTTP forbids: a call without its status must not look complete.
    res.destroy();
    return false;
  }
}
