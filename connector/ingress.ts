import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServiceConfig } from './config.ts';
import { GracefulServer } from './lifecycle/graceful-server.ts';
import { newRequestId } from './request-id.ts';

/** What the ingress needs from the connector: who wants a request, and a way to reach them. */
export interface TrafficRouter {
  /** Steal first (the earliest subscription wins), then every mirror. */
  match(
    service: string,
    req: { method: string; path: string; headers: Record<string, string | string[] | undefined> },
  ): {
    steal?: { sessionId: string; subId: string };
    mirrors: { sessionId: string; subId: string }[];
  };
  /** Sends a stolen request to the developer; resolves with their response, or undefined to use the upstream. */
  steal(
    target: { sessionId: string; subId: string },
    req: ForwardedRequest,
  ): Promise<ForwardedResponse | undefined>;
  /** Sends a copy; never waits. */
  mirror(target: { sessionId: string; subId: string }, req: ForwardedRequest): void;
}

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

// Hop-by-hop headers are about one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
]);

export function flattenHeaders(h: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || HOP_BY_HOP.has(k)) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        resolve(undefined);
        req.removeAllListeners('data');
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Sends a buffered request to the real service. */
export function callUpstream(upstream: string, req: ForwardedRequest): Promise<ForwardedResponse> {
  const url = new URL(req.path, upstream);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const out = send(
      url,
      {
        method: req.method,
        headers: { ...req.headers, host: url.host, 'content-length': String(req.body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 502,
            headers: flattenHeaders(res.headers),
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    out.on('error', reject);
    out.end(req.body);
  });
}

function write(res: ServerResponse, r: ForwardedResponse): void {
  const headers = { ...r.headers };
  for (const h of Object.keys(headers)) if (HOP_BY_HOP.has(h) || h === 'content-length') delete headers[h];
  res.writeHead(r.status, { ...headers, 'content-length': String(r.body.length) });
  res.end(r.body);
}

/**
 * One service's ingress: every request goes to the developer (steal), to both (mirror), or to
 * the upstream. It never hangs and never drops: a developer who is gone, slow past the deadline
 * or whose local app is down gets the request served by the upstream instead.
 */
export class Ingress {
  private server?: Server;
  /** The shutdown's handle on this ingress's connections (lifecycle/shutdown.ts). */
  graceful?: GracefulServer;

  constructor(
    readonly service: ServiceConfig,
    private readonly router: TrafficRouter,
    private readonly maxBodyBytes: number,
    private readonly log: (line: Record<string, unknown>) => void,
  ) {}

  async listen(): Promise<number> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        this.log({
          level: 'ERROR',
          message: 'ingress failure',
          service: this.service.name,
          error: String(err),
        });
        if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('bad gateway: the upstream could not be reached\n');
      });
    });
    this.graceful = new GracefulServer(this.server);
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.service.ingress.port, this.service.ingress.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, this.maxBodyBytes);
    const forwarded: ForwardedRequest = {
      requestId: newRequestId(),
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: flattenHeaders(req.headers),
      body: body ?? Buffer.alloc(0),
    };
    if (body === undefined) {
      // Too large to buffer for a developer: the upstream is the only place it can go whole.
      res.writeHead(413, { 'content-type': 'text/plain' });
      res.end(`request body above ${this.maxBodyBytes} bytes\n`);
      return;
    }
    const { steal, mirrors } = this.router.match(this.service.name, forwarded);
    for (const m of mirrors) this.router.mirror(m, forwarded);
    if (steal) {
      const answer = await this.router.steal(steal, forwarded);
      if (answer) {
        write(res, answer);
        return;
      }
    }
    write(res, await callUpstream(this.service.upstream, forwarded));
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
