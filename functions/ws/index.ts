import type { APIGatewayProxyResultV2, APIGatewayProxyWebsocketEventV2 } from 'aws-lambda';

/**
 * WebSocket handler for $connect, $disconnect and $default. Placeholder until the session and
 * routing work lands: it accepts every connection and answers nothing.
 */
export type WsEvent = APIGatewayProxyWebsocketEventV2 & {
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
};

export async function handler(_event: WsEvent): Promise<APIGatewayProxyResultV2> {
  return { statusCode: 200 };
}
