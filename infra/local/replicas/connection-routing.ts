import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { CLOSE_CODE_HEADER, CLOSE_REASON_HEADER } from '../../../functions/lib/close-headers.ts';

/**
 * With several router workers behind one port, a WebSocket connection lives in the worker that
 * accepted its socket, but a handler in any worker may post to it. Each worker therefore also
 * listens on a private loopback port, and its connection ids carry that port: the @connections
 * API of any worker answers for its own connections and forwards the rest to their owner. An
 * owner that is gone (killed) answers nothing, which is a 410 GoneException, exactly what API
 * Gateway says about a connection that no longer exists.
 */

/** Set on a forwarded call: the receiver answers from its own connections and never forwards again. */
export const FORWARDED_HEADER = 'x-switchyard-forwarded';
/** Set on every answer a worker gives about its own connections: the pid of the owner. */
export const OWNER_HEADER = 'x-switchyard-owner';

const ID_BYTES = 11;
const FORWARD_TIMEOUT_MS = 10_000;

/**
 * An id in API Gateway's shape (11 bytes, base64, padded) whose first two bytes are the owning
 * worker's private port; the other nine are random (72 bits: not guessable).
 */
export function replicaConnectionId(ownerPort: number): string {
  const bytes = randomBytes(ID_BYTES);
  bytes.writeUInt16BE(ownerPort, 0);
  return `${bytes.toString('base64url')}=`;
}

/** The owner's private port, or undefined for an id this scheme did not make. */
export function ownerPortOf(connectionId: string): number | undefined {
  const raw = connectionId.endsWith('=') ? connectionId.slice(0, -1) : connectionId;
  if (!/^[A-Za-z0-9_-]{15}$/.test(raw)) return undefined;
  const bytes = Buffer.from(raw, 'base64url');
  if (bytes.length !== ID_BYTES) return undefined;
  const port = bytes.readUInt16BE(0);
  return port > 0 ? port : undefined;
}

function gone(id: string): Response {
  return new Response(JSON.stringify({ message: `connection ${id} is gone` }), {
    status: 410,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': 'GoneException' },
  });
}

function withOwner(res: Response, pid: number): Response {
  const headers = new Headers(res.headers);
  headers.set(OWNER_HEADER, String(pid));
  return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
}

/**
 * The @connections API of one worker: calls about its own connections (or forwarded to it) are
 * answered by `local`; calls about another worker's connections go to that worker's private port.
 */
export function routedConnectionsApi(opts: {
  local: Pick<Hono, 'fetch'>;
  /** This worker's private port. */
  ownPort: number;
  /** Where the @connections API is mounted (`/_gateway`). */
  prefix: string;
  pid: number;
}): (request: Request) => Promise<Response> {
  const path = new RegExp(`^${opts.prefix}/@connections/([^/]+)$`);
  return async (request) => {
    const url = new URL(request.url);
    const id = path.exec(url.pathname)?.[1];
    const owner = id === undefined ? undefined : ownerPortOf(decodeURIComponent(id));
    if (
      id === undefined ||
      request.headers.has(FORWARDED_HEADER) ||
      owner === undefined ||
      owner === opts.ownPort
    ) {
      return withOwner(await opts.local.fetch(request), opts.pid);
    }
    const body = request.method === 'POST' ? await request.arrayBuffer() : undefined;
    let res: Response;
    try {
      res = await fetch(`http://127.0.0.1:${owner}${url.pathname}`, {
        method: request.method,
        headers: {
          [FORWARDED_HEADER]: '1',
          ...(request.headers.get('content-type')
            ? { 'content-type': request.headers.get('content-type')! }
            : {}),
          // The close code a DeleteConnection asks for (see the messenger's closeConnection).
          ...Object.fromEntries(
            [CLOSE_CODE_HEADER, CLOSE_REASON_HEADER].flatMap((h) =>
              request.headers.has(h) ? [[h, request.headers.get(h)!]] : [],
            ),
          ),
        },
        ...(body ? { body } : {}),
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
    } catch {
      // Nobody listens on the owner's port: the worker died, and its connections with it.
      return gone(decodeURIComponent(id));
    }
    // Only a worker answers with the owner header; anything else on that port is not ours.
    if (!res.headers.has(OWNER_HEADER)) {
      await res.arrayBuffer().catch(() => undefined);
      return gone(decodeURIComponent(id));
    }
    return res;
  };
}
