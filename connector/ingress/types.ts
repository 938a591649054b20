import type { Readable } from 'node:stream';

/** The head of a request: all a routing decision may read (filters never see the body). */
export interface RequestHead {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Header names are all lower case (as Node gives them): filters read values directly. */
  namesLowerCase?: boolean;
}

export interface Target {
  sessionId: string;
  subId: string;
}

/** Who wants a request, as the connector's subscription table answers from its head. */
export interface Match {
  steal?: Target;
  mirrors: Target[];
}

/** What the ingress needs from the connector: who wants a request, and a way to reach them. */
export interface TrafficRouter {
  /** Steal first (the earliest subscription wins), then every mirror. Answers from the head alone. */
  match(service: string, head: RequestHead): Match;
  /** Sends a stolen request to the developer; resolves with their response, or undefined to use the upstream. */
  steal(target: Target, req: ForwardedRequest): Promise<ForwardedResponse | undefined>;
  /** Sends a copy; never waits. */
  mirror(target: Target, req: ForwardedRequest): void;
  /**
   * More of a streamed stolen request's body (`data`), in frames small enough to pass whole.
   * False when the connection to the router is behind (its send queue over its high-water mark):
   * the caller stops reading its source until `whenDrained` calls back, so a fast client never
   * fills the connector's memory while the developer's side is slow.
   */
  requestBody?(target: Target, requestId: string, chunk: Buffer): boolean;
  /** Calls back once the connection to the router has caught up (at once if it has). */
  whenDrained?(callback: () => void): void;
  /**
   * Its end (`close`); with a reason, the developer is told the request is no longer theirs and
   * a request still waiting for its answer goes to the upstream.
   */
  endRequestBody?(target: Target, requestId: string, reason?: string): void;
  /** Tells the session that would have stolen a request that the upstream served it instead, and why. */
  missed?(target: Target, head: RequestHead, why: MissedReason): void;
}

/** Why a matching request did not reach its developer. */
export interface MissedReason {
  code: 'request_too_large';
  /** The connector's `maxBodyBytes`. */
  limit: number;
}

/** A whole request as it travels to a developer (a stolen request, or a mirrored copy). */
export interface ForwardedRequest {
  requestId: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  /** The body follows in `requestBody` calls (a stolen request; a mirrored copy is always whole). */
  stream?: boolean;
  /**
   * An `Upgrade` request (with `stream`): after a `101` answer, `requestBody` carries the
   * client's bytes of the upgraded connection and the answer's stream the app's.
   */
  upgrade?: boolean;
}

/**
 * The developer's answer: a whole body, or (`stream`) a body that goes on arriving after the
 * head. A stream that errors was cut by the developer (a `close` with a reason, or the session
 * gone): the client connection is cut too, so a truncated body never looks complete.
 */
export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | Readable;
  /**
   * Sent after the body (a gRPC answer's `grpc-status`, `grpc-message`). For a streamed body,
   * read when the body ends: the stream's `close` sets them.
   */
  trailers?: Record<string, string>;
}
