import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SwitchyardError } from '../../shared/errors/errors.ts';
import { describeSource, type RouterTarget, type Source } from './local-state.ts';

/** The URL answers, but not as a Switchyard router does (an app, an ingress, a proxy's page). */
export class NotARouterError extends SwitchyardError {
  constructor(url: string, healthz: string) {
    super(
      'not_a_router',
      `${url} does not look like a Switchyard router (/healthz answered ${healthz}): check --router, SWITCHYARD_ROUTER or the state file; the router's URL is the HttpApiUrl output of its stack, or what \`npm start\` prints`,
      502,
    );
  }
}

/** The router refused the token: says which token it was and how to get another. */
export class TokenRefusedError extends SwitchyardError {
  constructor(url: string, status: number, routerMessage: string, source: Source | undefined) {
    const from = source ? `the token from ${describeSource(source)}` : 'the token';
    const fix =
      source && typeof source !== 'string'
        ? `that file may be left from another run of the local router: restart it (\`npm start\`) to write a fresh one, or pass --token`
        : 'ask the router’s administrator for a developer token (`switchyard token create --developer <you>`) and pass it with --token or SWITCHYARD_TOKEN';
    super(
      'token_refused',
      `${url} refused ${from} (${routerMessage.replace(/: pass "Authorization.*$/, '')}): ${fix}`,
      status,
    );
  }
}

interface ErrorShape {
  error: { code: string; message: string };
}

function isErrorShape(json: unknown): json is ErrorShape {
  const e = (json as Partial<ErrorShape> | undefined)?.error;
  return typeof e?.code === 'string' && typeof e.message === 'string';
}

/** A small client for the router's HTTP API; errors keep the router's code and message. */
export class RouterApi {
  constructor(readonly target: RouterTarget) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.send(
      method,
      path,
      {
        authorization: `Bearer ${this.target.token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body !== undefined ? JSON.stringify(body) : undefined,
    );
    const json = parseJson(res.text);
    if (res.status >= 400) {
      if (!isErrorShape(json)) throw await this.notARouter();
      if (
        res.status === 401 ||
        (res.status === 403 && json.error.code === 'forbidden' && /token/.test(json.error.message))
      )
        throw new TokenRefusedError(
          this.target.httpUrl,
          res.status,
          json.error.message,
          this.target.tokenSource,
        );
      throw new SwitchyardError(json.error.code, json.error.message, res.status);
    }
    // Every answer of the API is a JSON object (a 204 excepted): anything else is someone else's.
    if (res.status !== 204 && (json === null || typeof json !== 'object' || Array.isArray(json)))
      throw await this.notARouter();
    return json as T;
  }

  /**
   * One request over node:http(s), not fetch: a command makes a handful of calls, and fetch's
   * first use loads undici and its pooled connection holds the process open after the answer
   * (together about a quarter of a second of `switchyard sessions`).
   */
  private send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
    timeoutMs = 30_000,
  ): Promise<{ status: number; headers: IncomingHttpHeaders; text: string }> {
    const url = new URL(`${this.target.httpUrl}${path}`);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        { method, headers: { ...headers, connection: 'close' }, agent: false, timeout: timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 502,
              headers: res.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
          res.on('error', (err) => reject(this.unreachable(err)));
        },
      );
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error(`no answer in ${timeoutMs / 1000} s`), { code: 'ETIMEDOUT' })),
      );
      req.on('error', (err) => reject(this.unreachable(err)));
      req.end(body);
    });
  }

  private unreachable(err: Error & { code?: string }): SwitchyardError {
    const source = this.target.routerSource;
    const hint =
      source && typeof source !== 'string'
        ? `is the local router running? ${source.file} names it; start it with \`npm start\``
        : `is it running, and is ${source ? describeSource(source) : 'the URL'} right?`;
    return new SwitchyardError(
      'router_unreachable',
      `cannot reach the router at ${this.target.httpUrl} (${err.code ?? err.message}): ${hint}`,
      503,
    );
  }

  /** Asks /healthz what is there, to say so in the error. */
  private async notARouter(): Promise<NotARouterError> {
    let answer: string;
    try {
      const res = await this.send('GET', '/healthz', {}, undefined, 5_000);
      const text = res.text.replace(/\s+/g, ' ').trim();
      const type = res.headers['content-type']?.split(';')[0];
      answer = `${res.status}${type ? ` ${type}` : ''}${text ? `: ${JSON.stringify(text.slice(0, 80))}` : ', empty'}`;
    } catch (err) {
      answer = `nothing (${(err as Error).message})`;
    }
    return new NotARouterError(this.target.httpUrl, answer);
  }
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}
