import type { Readable, Writable } from 'node:stream';
import type { SwitchyardError } from '../../shared/errors/errors.ts';

/** The head of a request as it leaves for the upstream (headers already rewritten, flat). */
export interface UpstreamHead {
  method: string;
  path: string;
  headers: string[];
  /** How the request body is framed on HTTP/1.1: none, the client's Content-Length, or chunked. */
  body: 'none' | 'length' | 'chunked';
}

export interface UpstreamResponse {
  status: number;
  /** Flat `[name, value, ...]`, hop-by-hop and pseudo-headers still in. */
  headers: string[];
  /** The body as it streams, or the whole body when it came with the head. */
  body: Readable | Buffer;
  /** The head was the whole answer (HTTP/2 END_STREAM on HEADERS: a gRPC trailers-only reply). */
  headOnly: boolean;
  /** Trailers, known once `body` has ended (flat). */
  trailers(): string[];
}

export interface ExchangeEvents {
  /** The upstream said `100 Continue` to a request that expects it. */
  continue(): void;
  response(res: UpstreamResponse): void;
  /** Failed before a response head arrived. */
  failed(err: SwitchyardError): void;
}

/** One request in flight to the upstream. */
export interface Exchange {
  /** Where the request body goes; end it to finish the request. */
  readonly sink: Writable;
  /** Ends a request that has no (more) body, without making a stream for it. */
  endBody(): void;
  /** Request trailers to send as the body ends (HTTP/1 chunked, or HTTP/2). */
  setTrailers(flat: string[]): void;
  /** Gives up: the client went away, or the upstream was too slow. */
  abort(): void;
}

/** A pooled client for one service's upstream, by protocol (HTTP/1.1 or h2c). */
export interface Upstream {
  readonly protocol: 'http1' | 'h2c';
  /** `host[:port]` the upstream is addressed by (the `Host` / `:authority` it gets). */
  readonly host: string;
  open(head: UpstreamHead, events: ExchangeEvents): Exchange;
  close(): void;
}
