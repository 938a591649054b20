import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';

/** A request as the ingress received it, over HTTP/1.1 or HTTP/2 (Node's compatibility API). */
export type InboundRequest = IncomingMessage | Http2ServerRequest;
export type InboundResponse = ServerResponse | Http2ServerResponse;

export function isHttp2(res: InboundResponse): res is Http2ServerResponse {
  return 'stream' in res;
}

/** The address of whoever connected to the ingress. */
export function remoteAddressOf(req: InboundRequest): string | undefined {
  return req.socket?.remoteAddress;
}
