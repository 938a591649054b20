import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';
import { bearerToken } from '../../shared/auth/tokens.ts';
import { errorBody } from '../../shared/errors/errors.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { onResetDeps } from '../lib/deps.ts';
import { sessionDeps } from '../lib/session-deps.ts';

/** API Gateway WebSocket events: $connect carries headers and the query string, $default a body. */
export type WsEvent = APIGatewayProxyWebsocketEventV2 & {
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
};

let relay: Relay | undefined;
onResetDeps(() => {
  relay = undefined;
});
function getRelay(): Relay {
  relay ??= new Relay(sessionDeps().deps);
  return relay;
}

function header(event: WsEvent, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** $connect, $disconnect and $default for developers' clients and clusters' connectors alike. */
export async function handler(event: WsEvent): Promise<APIGatewayProxyResultV2> {
  const { routeKey, connectionId } = event.requestContext;
  const r = getRelay();
  if (routeKey === '$connect') {
    const result = await r.connect({
      connectionId,
      token: bearerToken(header(event, 'authorization')),
      query: event.queryStringParameters ?? {},
    });
    if (result.ok) return { statusCode: 200 };
    return { statusCode: result.error.httpStatus ?? 401, body: JSON.stringify(errorBody(result.error)) };
  }
  if (routeKey === '$disconnect') {
    await r.disconnect(connectionId);
    return { statusCode: 200 };
  }
  const body =
    event.isBase64Encoded && event.body
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : (event.body ?? '');
  await r.message(connectionId, body);
  return { statusCode: 200 };
}
