import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { type Credentials, sign } from './sigv4.ts';

/**
 * One AWS endpoint spoken to with signed HTTP requests on kept-alive sockets: what the lean
 * clients (the management API's `@connections`, DynamoDB) share. The SDK's clients do the same
 * in about twenty middleware steps per call (endpoint rules, user agent, retry bookkeeping, a
 * general signer, a schema serializer), which showed as most of the router's CPU per call in
 * the profiles (bench/results/routing.md). Built once per instance and kept.
 */
export interface SignedHttpOptions {
  /** `https://<host>[/<base path>]`, or a local runtime's `http://127.0.0.1:<port>`. */
  endpoint: string;
  region: string;
  /** The signing name: `execute-api`, `dynamodb`. */
  service: string;
  /** Asked again only when what it gave expires within five minutes (or has no expiry and a day passed). */
  credentials: () => Promise<Credentials & { expiration?: Date }>;
  now?: () => Date;
  /** Attempts in all for what `retryable` allows (default 3, as the SDK's). */
  maxAttempts?: number;
  /** A request that has no answer after this long is cut (and counts as a transient error). */
  timeoutMs?: number;
  /** Which answers are worth another attempt; connection-level failures always are. */
  retryable: (answer: SignedAnswer) => boolean;
  /** The wait before attempt `attempt + 1` after a retryable answer (default 20 ms × 2^attempt). */
  backoffMs?: (attempt: number, answer: SignedAnswer) => number;
}

export interface SignedAnswer {
  status: number;
  /** `x-amzn-errortype` without its `:<url>` tail; empty when absent. */
  type: string;
  body: string;
}

export interface SignedRequest {
  method: 'POST' | 'DELETE';
  /** Below the endpoint's base path, as sent on the wire (already percent-encoded). */
  path: string;
  body: Buffer;
  /** Headers that are signed with the request (e.g. `x-amz-target`, `content-type`). */
  signed?: Record<string, string>;
  /** Headers that ride along unsigned. */
  extra?: Record<string, string>;
}

/** Failures before an answer that a new attempt may cure: a reset kept-alive socket, a timeout. */
const RETRYABLE_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ECONNREFUSED', 'ETIMEDOUT']);
const DEFAULT_TIMEOUT_MS = 5_000;

export interface SignedHttp {
  send(req: SignedRequest): Promise<SignedAnswer>;
  /** The endpoint's base path (`/<stage>` for API Gateway), without a trailing slash. */
  readonly basePath: string;
}

export function signedHttp(opts: SignedHttpOptions): SignedHttp {
  const url = new URL(opts.endpoint);
  const secure = url.protocol === 'https:';
  const agent = secure
    ? new HttpsAgent({ keepAlive: true, maxSockets: 64 })
    : new HttpAgent({ keepAlive: true, maxSockets: 64 });
  const transport = secure ? httpsRequest : httpRequest;
  const basePath = url.pathname.replace(/\/$/, '');
  const now = opts.now ?? (() => new Date());
  const maxAttempts = opts.maxAttempts ?? 3;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const backoff = opts.backoffMs ?? ((attempt: number) => 20 * 2 ** attempt);

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

  const once = (method: string, path: string, body: Buffer, headers: Record<string, string>) =>
    new Promise<SignedAnswer>((resolve, reject) => {
      const req = transport(
        {
          protocol: url.protocol,
          hostname: url.hostname,
          port: url.port || undefined,
          method,
          path,
          agent,
          timeout: timeoutMs,
          headers: { ...headers, 'content-length': String(body.length) },
        },
        (res: IncomingMessage) => {
          const status = res.statusCode ?? 0;
          const type = String(res.headers['x-amzn-errortype'] ?? '').split(':')[0]!;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status,
              type,
              body:
                chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
      );
      req.on('error', reject);
      req.end(body);
    });

  return {
    basePath,
    async send(r) {
      const path = basePath + r.path;
      for (let attempt = 1; ; attempt++) {
        const headers = sign({
          method: r.method,
          host: url.host,
          path,
          body: r.body,
          region: opts.region,
          service: opts.service,
          credentials: await credentials(),
          date: now(),
          ...(r.signed ? { headers: r.signed } : {}),
        });
        let answer: SignedAnswer;
        try {
          answer = await once(r.method, path, r.body, {
            ...r.extra,
            ...r.signed,
            ...headers,
          });
        } catch (err) {
          const code = (err as { code?: string }).code ?? '';
          // At once: a kept-alive socket the server had closed is the usual cause, and the next
          // attempt takes a fresh one.
          if (attempt < maxAttempts && RETRYABLE_ERRORS.has(code)) continue;
          throw err;
        }
        if (attempt < maxAttempts && opts.retryable(answer)) {
          await new Promise((res) => setTimeout(res, backoff(attempt, answer)));
          continue;
        }
        return answer;
      }
    },
  };
}
