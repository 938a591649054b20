import type { IncomingMessage, ServerResponse } from 'node:http';
import { Hono } from 'hono';
import { CLOSE_CODE_HEADER, CLOSE_REASON_HEADER } from '../../functions/lib/close-headers.ts';
import type { ConnectionRegistry } from './connection-registry.ts';

/** API Gateway refuses to post more than one WebSocket message's worth: 128 KB. */
export const MAX_POST_BYTES = 128 * 1024;

/**
 * The `@connections` management API of API Gateway, so the real
 * `@aws-sdk/client-apigatewaymanagementapi` client works unchanged against the local gateway.
 * Errors carry `x-amzn-errortype`, which is how the SDK picks the exception class it throws
 * (`GoneException`, `PayloadTooLargeException`). Requests are not signature-checked locally.
 */
export function connectionsApi(registry: ConnectionRegistry, basePath: string): Hono {
  const api = new Hono().basePath(basePath);

  const awsError = (status: number, type: string, message: string): Response =>
    new Response(JSON.stringify({ message }), {
      status,
      headers: { 'content-type': 'application/json', 'x-amzn-errortype': type },
    });
  const gone = (id: string): Response => awsError(410, 'GoneException', `connection ${id} is gone`);

  api.post('/@connections/:id', async (c) => {
    const id = c.req.param('id');
    const data = Buffer.from(await c.req.arrayBuffer());
    if (data.byteLength > MAX_POST_BYTES) {
      return awsError(
        413,
        'PayloadTooLargeException',
        `Message of ${data.byteLength} bytes is above the ${MAX_POST_BYTES} byte limit`,
      );
    }
    const connection = registry.open(id);
    if (!connection) return gone(id);
    registry.post(connection, data, Date.now());
    return c.body(null, 200);
  });

  api.get('/@connections/:id', (c) => {
    const connection = registry.open(c.req.param('id'));
    if (!connection) return gone(c.req.param('id'));
    const { context } = connection;
    return c.json({
      connectedAt: new Date(context.connectedAt).toISOString(),
      identity: {
        sourceIp: context.sourceIp,
        ...(context.userAgent ? { userAgent: context.userAgent } : {}),
      },
      lastActiveAt: new Date(connection.lastActiveAt).toISOString(),
    });
  });

  api.delete('/@connections/:id', (c) => {
    const connection = registry.open(c.req.param('id'));
    if (!connection) return gone(c.req.param('id'));
    // API Gateway closes normally whatever the caller wanted; a code the messenger asks for in
    // CLOSE_CODE_HEADER (an application code, 4000-4999) is honoured here, the reason with it.
    const code = Number(c.req.header(CLOSE_CODE_HEADER));
    if (Number.isInteger(code) && code >= 4000 && code <= 4999) {
      const reason = safeDecode(c.req.header(CLOSE_REASON_HEADER) ?? '');
      connection.socket.close(code, Buffer.byteLength(reason) <= 123 ? reason : '');
    } else {
      connection.socket.close(1000, 'Closed by the server');
    }
    return c.body(null, 204);
  });

  api.notFound(() => awsError(404, 'NotFoundException', 'Not Found'));
  return api;
}

/**
 * `POST @connections/<id>` straight on Node's request and response, ahead of the fetch adaptor:
 * the one call the router makes per routed frame, answered as the Hono route above answers it,
 * without building a `Request` and a `Response` for it. Anything else returns false and goes on
 * to the full API. For a single process only: a replica must forward posts to other workers.
 */
export function fastConnectionsPost(
  registry: ConnectionRegistry,
  basePath: string,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const prefix = `${basePath}/@connections/`;
  const answer = (res: ServerResponse, status: number, type?: string, message?: string): void => {
    if (!type) {
      res.writeHead(status, { 'content-length': '0' }).end();
      return;
    }
    const body = JSON.stringify({ message });
    res
      .writeHead(status, {
        'content-type': 'application/json',
        'content-length': String(Buffer.byteLength(body)),
        'x-amzn-errortype': type,
      })
      .end(body);
  };
  return (req, res) => {
    const url = req.url ?? '';
    if (req.method !== 'POST' || !url.startsWith(prefix)) return false;
    const raw = url.slice(prefix.length);
    if (!raw || raw.includes('/') || raw.includes('?')) return false;
    let id: string;
    try {
      id = decodeURIComponent(raw);
    } catch {
      return false;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_POST_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_POST_BYTES) {
        answer(
          res,
          413,
          'PayloadTooLargeException',
          `Message of ${size} bytes is above the ${MAX_POST_BYTES} byte limit`,
        );
        return;
      }
      const connection = registry.open(id);
      if (!connection) {
        answer(res, 410, 'GoneException', `connection ${id} is gone`);
        return;
      }
      registry.post(connection, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), Date.now());
      answer(res, 200);
    });
    return true;
  };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return '';
  }
}
