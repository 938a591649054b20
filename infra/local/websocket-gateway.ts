import { type IncomingMessage, type Server, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type WebSocket, WebSocketServer } from 'ws';
import { AUTHORIZER_IDENTITY_HEADER } from '../../shared/relay/identity.ts';
import type { ConnectionRegistry } from './connection-registry.ts';
import type { WsHandler } from './handlers.ts';
import { lambdaContext } from './lambda-context.ts';
import type { LocalLog } from './log.ts';
import {
  type AuthorizerEvent,
  apiGatewayId,
  authorizerEvent,
  type ConnectionContext,
  connectEvent,
  connectMethodArn,
  disconnectEvent,
  messageEvent,
  type Upgrade,
  type WebSocketEvent,
} from './websocket-events.ts';

/** API Gateway WebSocket limits (https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html). */
export const WEBSOCKET_LIMITS = {
  /** Incoming frames above this close the connection with 1009. */
  frameBytes: 32 * 1024,
  /** A connection with no messages for this long is closed (1001). */
  idleTimeoutMs: 10 * 60 * 1000,
  /** No connection lives longer than this (1001). */
  maxConnectionMs: 2 * 60 * 60 * 1000,
} as const;

export interface WebSocketGatewayOptions {
  /** The one path that upgrades (`/ws`); API Gateway's stage URL plays this part. */
  path: string;
  handler: WsHandler;
  registry: ConnectionRegistry;
  region: string;
  stage?: string;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  /** The account in the authorizer's `methodArn` (default `000000000000`, as local ARNs have). */
  accountId?: string;
  /** New connection ids (default: API Gateway style random ids); replicas put their owner in them. */
  connectionId?: () => string;
  log: LocalLog;
}

export interface WebSocketGateway {
  /** Closes every connection (each gets its $disconnect) and refuses new ones. */
  close(): Promise<void>;
}

/** API Gateway answers an integration failure with this body (and, on messages, the ids). */
const INTERNAL_ERROR = 'Internal server error';
const HANDLER_TIMEOUT_MS = 29_000;

function statusOf(value: unknown): {
  status: number;
  body?: string;
  headers: Record<string, string>;
} {
  // A proxy result without a status code (or a bare string) counts as 200, as in payload format 2.0.
  if (value === undefined || value === null || typeof value !== 'object') return { status: 200, headers: {} };
  const result = value as APIGatewayProxyStructuredResultV2;
  const headers = Object.fromEntries(
    Object.entries(result.headers ?? {}).map(([k, v]) => [k.toLowerCase(), String(v)]),
  );
  return {
    status: result.statusCode ?? 200,
    ...(typeof result.body === 'string' ? { body: result.body } : {}),
    headers,
  };
}

/** Refuses an upgrade with a plain HTTP response, as API Gateway does when $connect says no. */
function refuse(socket: Duplex, status: number, body: string, contentType = 'application/json'): void {
  if (socket.destroyed) return;
  const bytes = Buffer.byteLength(body);
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n${body}`,
  );
}

type Verdict =
  | { ok: true; authorizer: Record<string, string | number | boolean> }
  | { ok: false; status: number; message: string; problem?: string };

/** An IAM `Resource`/`Action` pattern (`*` any run of characters, `?` one) against a value. */
function matches(pattern: unknown, value: string): boolean {
  const patterns = Array.isArray(pattern) ? pattern : [pattern];
  return patterns.some((p) => {
    if (typeof p !== 'string') return false;
    const re = p
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${re}$`).test(value);
  });
}

/**
 * What API Gateway makes of a Lambda authorizer's answer: anything but a policy with a principal
 * (and a context of plain values) is its own failure, a 500; a Deny, or no Allow for the
 * method, refuses the connection with 403; an Allow lets $connect run.
 */
function verdictOf(result: unknown, methodArn: string, latencyMs: number): Verdict {
  const broken: Verdict = {
    ok: false,
    status: 500,
    message: INTERNAL_ERROR,
    problem: 'the authorizer answered no policy with a principal and a context of plain values',
  };
  if (!result || typeof result !== 'object') return broken;
  const r = result as { principalId?: unknown; policyDocument?: { Statement?: unknown }; context?: unknown };
  const statements = r.policyDocument?.Statement;
  if (typeof r.principalId !== 'string' || !Array.isArray(statements)) return broken;
  const context: Record<string, string | number | boolean> = {};
  if (r.context !== undefined && r.context !== null) {
    if (typeof r.context !== 'object') return broken;
    for (const [k, v] of Object.entries(r.context)) {
      if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return broken;
      context[k] = v;
    }
  }
  const applies = (s: Record<string, unknown>) =>
    matches(s.Resource, methodArn) && matches(s.Action, 'execute-api:Invoke');
  const stmts = statements.filter((s): s is Record<string, unknown> => !!s && typeof s === 'object');
  const denied = stmts.some((s) => s.Effect === 'Deny' && applies(s));
  const allowed = stmts.some((s) => s.Effect === 'Allow' && applies(s));
  if (denied || !allowed) return { ok: false, status: 403, message: 'Forbidden' };
  return { ok: true, authorizer: { ...context, principalId: r.principalId, integrationLatency: latencyMs } };
}

const clientIp = (req: IncomingMessage): string =>
  (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');

/**
 * A WebSocket endpoint on an existing HTTP server that behaves like an API Gateway WebSocket
 * API with one Lambda proxy integration: $connect decides whether the upgrade happens, every
 * message becomes a $default event, a close becomes $disconnect. A connection's events run one
 * after another, in arrival order.
 */
export function attachWebSocketGateway(server: Server, opts: WebSocketGatewayOptions): WebSocketGateway {
  const stage = opts.stage ?? 'local';
  const idleTimeoutMs = opts.idleTimeoutMs ?? WEBSOCKET_LIMITS.idleTimeoutMs;
  const maxConnectionMs = opts.maxConnectionMs ?? WEBSOCKET_LIMITS.maxConnectionMs;
  /** The sub-protocol $connect chose for a request, answered in the 101 response. */
  const protocols = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    // ws applies this to whole messages, so a fragmented message is limited to 32 KB too
    // (API Gateway allows 128 KB in 32 KB frames); clients here send unfragmented messages.
    maxPayload: WEBSOCKET_LIMITS.frameBytes,
    handleProtocols: (_offered, req) => protocols.get(req) ?? false,
  });
  const queues = new Map<string, Promise<void>>();
  /** Upgrades whose $connect is still running. */
  const accepting = new Set<Promise<void>>();
  let closing = false;

  // The authorizer is the ws function too (as deployed): one handler takes both event kinds.
  const invoke = async (event: WebSocketEvent | AuthorizerEvent): Promise<unknown> =>
    opts.handler(event as WebSocketEvent, lambdaContext('ws', opts.region, HANDLER_TIMEOUT_MS));

  /** Runs events of one connection strictly in order; a failing event does not stop the next. */
  const enqueue = (connectionId: string, run: () => Promise<void>): Promise<void> => {
    const next = (queues.get(connectionId) ?? Promise.resolve()).then(run).catch((err) => {
      opts.log.error(`ws handler failed on connection ${connectionId}`, err);
    });
    queues.set(connectionId, next);
    return next;
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== opts.path) {
      refuse(socket, 404, JSON.stringify({ message: 'Not Found' }));
      return;
    }
    if (closing) {
      refuse(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }
    const done = accept(req, socket, head, url)
      .catch((err) => {
        opts.log.error('websocket upgrade failed', err);
        refuse(socket, 500, JSON.stringify({ message: INTERNAL_ERROR }));
      })
      .finally(() => accepting.delete(done));
    accepting.add(done);
  };

  async function accept(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): Promise<void> {
    const context: ConnectionContext = {
      connectionId: (opts.connectionId ?? apiGatewayId)(),
      connectedAt: Date.now(),
      domainName: req.headers.host ?? `127.0.0.1:${req.socket.localPort}`,
      stage,
      apiId: 'local',
      sourceIp: clientIp(req),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
    };
    const { connectionId } = context;
    opts.registry.add({ context, lastActiveAt: context.connectedAt });
    const upgrade: Upgrade = {
      rawHeaders: req.rawHeaders,
      search: url.searchParams,
      port: req.socket.localPort ?? 0,
    };

    // The $connect route's REQUEST authorizer (the ws function, as deployed). Its identity source
    // is the Authorization header: without one API Gateway answers 401 and calls nothing.
    if (!req.headers[AUTHORIZER_IDENTITY_HEADER.toLowerCase()]) {
      opts.registry.remove(connectionId);
      refuse(socket, 401, JSON.stringify({ message: 'Unauthorized' }));
      return;
    }
    const methodArn = connectMethodArn(context, opts.region, opts.accountId ?? '000000000000');
    let verdict: Verdict;
    const started = Date.now();
    try {
      verdict = verdictOf(
        await invoke(authorizerEvent(context, upgrade, methodArn)),
        methodArn,
        Date.now() - started,
      );
    } catch (err) {
      opts.log.error(`ws authorizer failed on $connect of ${connectionId}`, err);
      verdict = { ok: false, status: 500, message: INTERNAL_ERROR };
    }
    if (!verdict.ok) {
      if (verdict.problem) opts.log.error(`ws authorizer on $connect of ${connectionId}: ${verdict.problem}`);
      opts.registry.remove(connectionId);
      refuse(socket, verdict.status, JSON.stringify({ message: verdict.message }));
      return;
    }
    context.authorizer = verdict.authorizer;

    let result: ReturnType<typeof statusOf>;
    try {
      result = statusOf(await invoke(connectEvent(context, upgrade)));
    } catch (err) {
      opts.registry.remove(connectionId);
      opts.log.error(`ws handler failed on $connect of ${connectionId}`, err);
      refuse(socket, 500, JSON.stringify({ message: INTERNAL_ERROR }));
      return;
    }
    if (result.status < 200 || result.status > 299) {
      opts.registry.remove(connectionId);
      refuse(
        socket,
        result.status,
        result.body ?? JSON.stringify({ message: STATUS_CODES[result.status] ?? 'Forbidden' }),
        result.headers['content-type'] ?? 'application/json',
      );
      return;
    }
    // The client gave up while $connect ran; API Gateway would not run $disconnect either.
    if (socket.destroyed || closing) {
      opts.registry.remove(connectionId);
      if (!socket.destroyed) refuse(socket, 503, JSON.stringify({ message: 'Service Unavailable' }));
      return;
    }
    const protocol = result.headers['sec-websocket-protocol'];
    if (protocol) protocols.set(req, protocol);
    wss.handleUpgrade(req, socket, head, (ws) => opened(ws, context));
  }

  function opened(ws: WebSocket, context: ConnectionContext): void {
    const { connectionId } = context;
    const connection = { context, socket: ws, lastActiveAt: Date.now() };
    opts.registry.add(connection);
    ws.on('message', (data, isBinary) => {
      const now = Date.now();
      connection.lastActiveAt = now;
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      void enqueue(connectionId, async () => {
        try {
          await invoke(messageEvent(context, bytes, isBinary, now));
        } catch (err) {
          opts.log.error(`ws handler failed on $default of ${connectionId}`, err);
          // What API Gateway sends the client when the integration fails.
          const requestId = apiGatewayId();
          if (ws.readyState === ws.OPEN)
            ws.send(JSON.stringify({ message: INTERNAL_ERROR, connectionId, requestId }));
        }
      });
    });
    ws.on('error', (err) => opts.log.warn(`websocket ${connectionId}`, err));
    ws.once('close', (code, reason) => {
      void enqueue(connectionId, async () => {
        // $disconnect is best effort on AWS too: its failure is logged, never retried.
        await invoke(disconnectEvent(context, { code, reason: reason.toString('utf8') }, Date.now()));
      }).finally(() => {
        opts.registry.remove(connectionId);
        queues.delete(connectionId);
      });
    });
  }

  // Idle and lifetime limits, swept rather than timed per connection.
  const sweepEvery = Math.max(10, Math.min(idleTimeoutMs, maxConnectionMs, 30_000) / 4);
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of opts.registry.all()) {
      if (!c.socket || c.socket.readyState !== c.socket.OPEN) continue;
      if (now - c.lastActiveAt >= idleTimeoutMs || now - c.context.connectedAt >= maxConnectionMs) {
        c.socket.close(1001, 'Going away');
      }
    }
  }, sweepEvery);
  sweeper.unref();

  server.on('upgrade', onUpgrade);

  return {
    async close() {
      // The upgrade listener stays: until the server itself closes, a client that reconnects at
      // once is refused with 503 (it retries), where an HTTP server without one would pass the
      // upgrade to the request handler (a 404, which clients take as final).
      closing = true;
      clearInterval(sweeper);
      await Promise.all([...accepting]);
      const sockets = opts.registry.all().flatMap((c) => (c.socket ? [c.socket] : []));
      await Promise.all(
        sockets.map(
          (ws) =>
            new Promise<void>((resolve) => {
              if (ws.readyState === ws.CLOSED) return resolve();
              // A client that does not answer the close handshake is cut off.
              const cut = setTimeout(() => ws.terminate(), 1000);
              ws.once('close', () => {
                clearTimeout(cut);
                resolve();
              });
              ws.close(1001, 'Going away');
            }),
        ),
      );
      // Let every $disconnect (and anything queued before it) finish.
      await Promise.all([...queues.values()]);
      wss.close();
    },
  };
}
