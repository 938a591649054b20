import { Agent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { UpstreamUnreachableError } from './errors.ts';
import type { Exchange, ExchangeEvents, Upstream, UpstreamHead } from './upstream.ts';

/**
 * HTTP/1.1 to the upstream over a keep-alive pool. LIFO hands out the most recently used
 * socket, so a quiet period lets the rest idle out; the agent honours the upstream's
 * `Keep-Alive: timeout` hint, so a socket is not reused just as the upstream closes it.
 */
export class Http1Upstream implements Upstream {
  readonly protocol = 'http1';
  readonly host: string;
  private readonly agent: Agent;
  private readonly send: typeof httpRequest;
  private readonly hostname: string;
  private readonly port: number;
  private readonly tls: boolean;

  constructor(
    private readonly service: string,
    upstream: string,
  ) {
    const url = new URL(upstream);
    this.tls = url.protocol === 'https:';
    this.host = url.host;
    this.hostname = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port) || (this.tls ? 443 : 80);
    const options = { keepAlive: true, scheduling: 'lifo' as const, maxFreeSockets: 1024 };
    this.agent = this.tls ? new HttpsAgent(options) : new Agent(options);
    this.send = this.tls ? httpsRequest : httpRequest;
  }

  open(head: UpstreamHead, events: ExchangeEvents): Exchange {
    let answered = false;
    const req = this.send({
      agent: this.agent,
      hostname: this.hostname,
      port: this.port,
      method: head.method,
      path: head.path,
      headers: head.headers,
      setHost: false,
    });
    req.on('continue', () => events.continue());
    req.on('response', (res) => {
      answered = true;
      events.response({
        status: res.statusCode ?? 502,
        headers: res.rawHeaders,
        body: res,
        headOnly: false,
        trailers: () => res.rawTrailers,
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      // After the head, a failure shows on the response body and is the caller's to handle.
      if (answered) return;
      answered = true;
      events.failed(new UpstreamUnreachableError(this.service, err.code ?? err.message));
    });
    return {
      sink: req,
      setTrailers(flat) {
        const pairs: [string, string][] = [];
        for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!, flat[i + 1]!]);
        req.addTrailers(pairs);
      },
      abort() {
        answered = true;
        req.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
