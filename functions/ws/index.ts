import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyResultV2,
  APIGatewayProxyWebsocketEventV2,
} from 'aws-lambda';
import { bearerToken } from '../../shared/auth/tokens.ts';
import { errorBody } from '../../shared/errors/errors.ts';
import { newIncidentId } from '../../shared/protocol/error-frame.ts';
import {
  type AuthorizerContext,
  authErrorContext,
  authErrorFromContext,
  identityContext,
  identityFromContext,
} from '../../shared/relay/identity.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { onResetDeps } from '../lib/deps.ts';
import { sessionDeps } from '../lib/session-deps.ts';

/**
 * API Gateway WebSocket events: $connect carries headers and the query string, $default a body;
 * all of them carry what the $connect authorizer returned as `requestContext.authorizer`.
 */
export type WsEvent = APIGatewayProxyWebsocketEventV2 & {
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  requestContext: APIGatewayProxyWebsocketEventV2['requestContext'] & { authorizer?: unknown };
};

/** The REQUEST authorizer event of a WebSocket API's $connect route. */
export interface WsAuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  requestContext?: Record<string, unknown>;
}

let relay: Relay | undefined;
onResetDeps(() => {
  relay = undefined;
});
function getRelay(): Relay {
  relay ??= new Relay(sessionDeps().deps);
  return relay;
}

function header(event: { headers?: Record<string, string | undefined> }, name: string): string | undefined {
  for (const [k, v] of Object.entries(event.headers ?? {})) if (k.toLowerCase() === name) return v;
  return undefined;
}

function isAuthorizerEvent(event: WsEvent | WsAuthorizerEvent): event is WsAuthorizerEvent {
  return (
    (event as WsAuthorizerEvent).type === 'REQUEST' &&
    typeof (event as WsAuthorizerEvent).methodArn === 'string'
  );
}

/**
 * The $connect authorizer: the same checks $connect made itself, once per connection. It always
 * allows: a refusal travels in the context, so $connect answers with the router's own status and
 * body (API Gateway would answer a Deny with a bare 403). What it found rides on every later event.
 */
async function authorize(event: WsAuthorizerEvent): Promise<APIGatewayAuthorizerResult> {
  const auth = await getRelay().authorizeConnect({
    token: bearerToken(header(event, 'authorization')),
    query: event.queryStringParameters ?? {},
  });
  const policy = (principalId: string, context: AuthorizerContext): APIGatewayAuthorizerResult => ({
    principalId,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow' as const, Resource: event.methodArn }],
    },
    context,
  });
  if (!auth.ok) {
    const status = auth.error.httpStatus ?? 401;
    return policy('unauthenticated', authErrorContext(status, JSON.stringify(errorBody(auth.error))));
  }
  const { identity } = auth;
  return policy(
    identity.role === 'cluster' ? `cluster:${identity.clusterId}` : identity.owner,
    identityContext(identity),
  );
}

/** $connect, $disconnect and $default for developers' clients and clusters' connectors alike. */
export async function handler(
  event: WsEvent | WsAuthorizerEvent,
): Promise<APIGatewayProxyResultV2 | APIGatewayAuthorizerResult> {
  if (isAuthorizerEvent(event)) return authorize(event);
  const { routeKey, connectionId, authorizer } = event.requestContext;
  const r = getRelay();
  const identity = identityFromContext(authorizer);
  if (routeKey === '$connect') {
    const refused = authErrorFromContext(authorizer);
    if (refused) return { statusCode: refused.status, body: refused.body };
    const result = await r.connect({
      connectionId,
      token: bearerToken(header(event, 'authorization')),
      query: event.queryStringParameters ?? {},
      ...(identity ? { identity } : {}),
    });
    if (result.ok) return { statusCode: 200 };
    return { statusCode: result.error.httpStatus ?? 401, body: JSON.stringify(errorBody(result.error)) };
  }
  if (routeKey === '$disconnect') {
    await r.disconnect(connectionId, identity);
    return { statusCode: 200 };
  }
  const body =
    event.isBase64Encoded && event.body
      ? Buffer.from(event.body, 'base64').toString('utf8')
      : (event.body ?? '');
  try {
    await r.message(connectionId, body, identity);
  } catch (err) {
    // API Gateway would answer a thrown error with a bare `Internal server error`: the sender
    // gets a well-formed `internal` error instead, and the log line has the same incident id.
    const incident = newIncidentId();
    console.error(
      JSON.stringify({
        level: 'ERROR',
        message: 'ws message handling failed',
        incident,
        connectionId,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }),
    );
    await r.internalError(connectionId, incident).catch(() => {});
  }
  return { statusCode: 200 };
}
