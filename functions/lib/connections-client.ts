import { type SignedAnswer, signedHttp } from './signed-http.ts';
import { type Credentials, escapeUri } from './sigv4.ts';

/**
 * API Gateway's management API (`@connections`), reduced to what the router calls per routed
 * frame: one signed HTTP request on a kept-alive socket (signed-http.ts). Built once per
 * instance and kept.
 */
export interface ConnectionsApi {
  /** Posts one frame. False when the connection is gone (410): never retried. */
  post(connectionId: string, data: Buffer): Promise<boolean>;
  /** Closes a connection. False when it was already gone. `headers` ride along unsigned. */
  remove(connectionId: string, headers?: Record<string, string>): Promise<boolean>;
}

/** A management API answer other than success or 410 Gone. */
export class ManagementApiError extends Error {
  readonly code = 'management_api_error';
  constructor(
    readonly status: number,
    /** AWS's error type (`x-amzn-errortype`), e.g. `PayloadTooLargeException`, `ForbiddenException`. */
    readonly type: string,
    message: string,
  ) {
    super(`@connections answered ${status} ${type}: ${message}`);
    this.name = type || 'ManagementApiError';
  }
}

export interface SignedConnectionsOptions {
  /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>` (or the local runtime's). */
  endpoint: string;
  region: string;
  /** Asked again only when what it gave expires within five minutes (or has no expiry and a day passed). */
  credentials: () => Promise<Credentials & { expiration?: Date }>;
  now?: () => Date;
  /** Attempts for throttling, 5xx and a reset kept-alive socket (default 3, as the SDK's). */
  maxAttempts?: number;
}

const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

export function signedConnections(opts: SignedConnectionsOptions): ConnectionsApi {
  const http = signedHttp({
    ...opts,
    service: 'execute-api',
    retryable: (answer) => RETRYABLE_STATUS.has(answer.status),
  });
  const empty = Buffer.alloc(0);
  const call = (
    method: 'POST' | 'DELETE',
    connectionId: string,
    body: Buffer,
    extra?: Record<string, string>,
  ) =>
    http.send({
      method,
      path: `/@connections/${escapeUri(connectionId)}`,
      body,
      ...(extra ? { extra } : {}),
    });

  const outcome = (answer: SignedAnswer): boolean => {
    if (answer.status >= 200 && answer.status < 300) return true;
    if (answer.status === 410) return false;
    let message = answer.body;
    try {
      message = (JSON.parse(answer.body) as { message?: string }).message ?? answer.body;
    } catch {}
    throw new ManagementApiError(answer.status, answer.type, message);
  };

  return {
    async post(connectionId, data) {
      return outcome(await call('POST', connectionId, data));
    },
    async remove(connectionId, headers) {
      return outcome(await call('DELETE', connectionId, empty, headers));
    },
  };
}
