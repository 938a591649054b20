import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Credentials, escapeUri, sign } from './sigv4.ts';

/**
 * API Gateway's management API (`@connections`), reduced to what the router calls per routed
 * frame: one signed HTTP request on a kept-alive socket. The SDK client does the same in about
 * twenty middleware steps (endpoint resolution, user agent, retry bookkeeping, a general signer,
 * a serializer), which made up most of the router's CPU per routed request (see
 * bench/results/routing.md). Built once per instance and kept.
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
const RETRYABLE_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']);
const REQUEST_TIMEOUT_MS = 5_000;

interface Answer {
  status: number;
  type: string;
  body: string;
}

export function signedConnections(opts: SignedConnectionsOptions): ConnectionsApi {
  const url = new URL(opts.endpoint);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
    : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const send = secure ? httpsRequest : httpRequest;
  const base = url.pathname.replace(/\/$/, '');
  const now = opts.now ?? (() => new Date());
  const maxAttempts = opts.maxAttempts ?? 3;
  const empty = Buffer.alloc(0);

  // The provider chain's own memoization costs a few promise hops per call; per routed frame
  // that showed in the profile, so the answer is kept until it nears its expiry.
  let creds: { value: Credentials; renewAt: number } | undefined;
  const credentials = async (): Promise<Credentials> => {
    const at = now().getTime();
    if (!creds || at >= creds.renewAt) {
      const value = await opts.credentials();
      const expires = value.expiration?.getTime();
      creds = { value, renewAt: expires ? expires - 5 * 60_000 : at + 24 * 3600_000 };
    }
    return creds.value;
  };

  const once = (method: 'POST' | 'DELETE', path: string, body: Buffer, headers: Record<string, string>) =>
    new Promise<Answer>((resolve, reject) => {
      const req = send(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || undefined,
          method,
          path,
          agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers: { ...headers, 'content-length': String(body.length) },
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          const type = String(res.headers['x-amzn-errortype'] ?? '').split(':')[0]!;
          if (status >= 200 && status < 300) {
            res.resume();
            res.on('end', () => resolve({ status, type, body: '' }));
            return;
          }
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status, type, body: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error('request timed out'), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(body);
    });

  async function call(
    method: 'POST' | 'DELETE',
    connectionId: string,
    body: Buffer,
    extra?: Record<string, string>,
  ): Promise<Answer> {
    const path = `${base}/@connections/${escapeUri(connectionId)}`;
    for (let attempt = 1; ; attempt++) {
      const headers = sign({
        method,
        host: url.host,
        path,
        body,
        region: opts.region,
        service: 'execute-api',
        credentials: await credentials(),
        date: now(),
      });
      let answer: Answer;
      try {
        answer = await once(method, path, body, extra ? { ...extra, ...headers } : headers);
      } catch (err) {
        const code = (err as { code?: string }).code ?? '';
        if (attempt < maxAttempts && RETRYABLE_ERRORS.has(code)) continue;
        throw err;
      }
      if (attempt < maxAttempts && RETRYABLE_STATUS.has(answer.status)) {
        await new Promise((r) => setTimeout(r, 20 * 2 ** attempt));
        continue;
      }
      return answer;
    }
  }

  const outcome = (answer: Answer): boolean => {
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
