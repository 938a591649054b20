/** The head of a request: all a routing decision may read (filters never see the body). */
export interface RequestHead {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
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
}

/** A whole request as it travels to a developer (a stolen request, or a mirrored copy). */
export interface ForwardedRequest {
  requestId: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
}

export interface ForwardedResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}
