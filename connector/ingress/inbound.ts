import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse, Http2Session } from 'node:http2';

/** A request as the ingress received it, over HTTP/1.1 or HTTP/2 (Node's compatibility API). */
export type InboundRequest = IncomingMessage | Http2ServerRequest;
export type InboundResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(res: InboundResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

/**
 * The client address of each HTTP/2 session: its socket is a replaying stream (see sniff.ts)
 * that knows no peer, so the ingress records the real socket's.
 */
export const http2Peers = new WeakMap<Http2Session, string>();

/** The address of whoever connected to the ingress. */
export function remoteAddressOf(req: InboundRequest): string | undefined {
  if ('stream' in req) return http2Peers.get(req.stream.session as Http2Session);
  return req.socket?.remoteAddress;
}
