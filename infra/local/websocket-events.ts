import { randomBytes } from 'node:crypto';
import type { APIGatewayEventWebsocketRequestContextV2 } from 'aws-lambda';

/**
 * The events API Gateway WebSocket APIs give a Lambda proxy integration, built from what the
 * local gateway sees. The shapes follow real events, including the fields @types/aws-lambda
 * leaves out (headers and query on $connect, identity, the disconnect status).
 */

/** Ids in API Gateway's style: 11 random bytes, base64, padded (`L0SM9cOFvHcCIhw=`). */
const ID_BYTES = 11;
const POOL_IDS = 256;
let pool = Buffer.alloc(0);
let next = POOL_IDS;

/** One random fill per 256 ids: every message event takes three of them. */
export function apiGatewayId(): string {
  if (next >= POOL_IDS) {
    pool = randomBytes(ID_BYTES * POOL_IDS);
    next = 0;
  }
  const start = next++ * ID_BYTES;
  return `${pool.toString('base64url', start, start + ID_BYTES)}=`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number): string => String(n).padStart(2, '0');

/** `requestTime` in API Gateway's format: `09/Feb/2024:10:00:00 +0000`. */
let timeOf = { second: -1, text: '' };

export function requestTime(epochMs: number): string {
  const second = Math.floor(epochMs / 1000);
  if (second !== timeOf.second) timeOf = { second, text: formatTime(epochMs) };
  return timeOf.text;
}

function formatTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000`;
}

/** What the gateway knows about one connection, fixed at upgrade time. */
export interface ConnectionContext {
  connectionId: string;
  connectedAt: number;
  domainName: string;
  stage: string;
  apiId: string;
  sourceIp: string;
  userAgent?: string;
  /**
   * What the $connect authorizer returned (its `context`, with `principalId` and
   * `integrationLatency` as API Gateway adds them): on every event after the authorizer's.
   */
  authorizer?: Record<string, string | number | boolean>;
}

/** Only MESSAGE events carry a `messageId` (the @types declare it on all three). */
export type WebSocketRequestContext = Omit<APIGatewayEventWebsocketRequestContextV2, 'messageId'> & {
  messageId?: string;
  identity: { sourceIp: string; userAgent?: string };
  disconnectStatusCode?: number;
  disconnectReason?: string;
  authorizer?: Record<string, string | number | boolean>;
};

export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  body?: string;
  isBase64Encoded: boolean;
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
}

function requestContext(
  c: ConnectionContext,
  routeKey: string,
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  now: number,
): WebSocketRequestContext {
  return {
    routeKey,
    eventType,
    ...(eventType === 'MESSAGE' ? { messageId: apiGatewayId() } : {}),
    extendedRequestId: apiGatewayId(),
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: c.stage,
    connectedAt: c.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: c.sourceIp, ...(c.userAgent ? { userAgent: c.userAgent } : {}) },
    requestId: apiGatewayId(),
    domainName: c.domainName,
    connectionId: c.connectionId,
    apiId: c.apiId,
    ...(c.authorizer ? { authorizer: c.authorizer } : {}),
  };
}

/** Header list as the client sent it (API Gateway keeps the client's spelling), single and multi valued. */
function headerMaps(rawHeaders: string[]): {
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
} {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
    multiValueHeaders[name] = [...(multiValueHeaders[name] ?? []), value];
  }
  return { headers, multiValueHeaders };
}

function queryMaps(search: URLSearchParams):
  | {
      queryStringParameters: Record<string, string>;
      multiValueQueryStringParameters: Record<string, string[]>;
    }
  | Record<string, never> {
  const single: Record<string, string> = {};
  const multi: Record<string, string[]> = {};
  for (const [k, v] of search) {
    single[k] = v; // the last value wins, as on API Gateway
    multi[k] = [...(multi[k] ?? []), v];
  }
  // API Gateway leaves both keys out when there is no query string.
  return Object.keys(single).length
    ? { queryStringParameters: single, multiValueQueryStringParameters: multi }
    : {};
}

export interface Upgrade {
  rawHeaders: string[];
  search: URLSearchParams;
  port: number;
}

/** The REQUEST authorizer event of $connect (API Gateway's WebSocket shape: no path, no method). */
export interface AuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers: Record<string, string>;
  multiValueHeaders: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  stageVariables: Record<string, string>;
  requestContext: WebSocketRequestContext;
}

/** `arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/$connect`. */
export function connectMethodArn(c: ConnectionContext, region: string, account: string): string {
  return `arn:aws:execute-api:${region}:${account}:${c.apiId}/${c.stage}/$connect`;
}

export function authorizerEvent(c: ConnectionContext, upgrade: Upgrade, methodArn: string): AuthorizerEvent {
  const { authorizer: _none, ...beforeAuthorizer } = c;
  const connect = connectEvent(beforeAuthorizer, upgrade);
  return {
    type: 'REQUEST',
    methodArn,
    headers: connect.headers ?? {},
    multiValueHeaders: connect.multiValueHeaders ?? {},
    ...queryMaps(upgrade.search),
    stageVariables: {},
    requestContext: connect.requestContext,
  };
}

export function connectEvent(c: ConnectionContext, upgrade: Upgrade): WebSocketEvent {
  const { headers, multiValueHeaders } = headerMaps(upgrade.rawHeaders);
  // API Gateway adds the forwarding headers its integrations see.
  const forwarded = {
    'X-Forwarded-For': c.sourceIp,
    'X-Forwarded-Port': String(upgrade.port),
    'X-Forwarded-Proto': 'http',
  };
  for (const [k, v] of Object.entries(forwarded)) {
    headers[k] ??= v;
    multiValueHeaders[k] ??= [v];
  }
  return {
    headers,
    multiValueHeaders,
    ...queryMaps(upgrade.search),
    requestContext: requestContext(c, '$connect', 'CONNECT', c.connectedAt),
    isBase64Encoded: false,
  };
}

export function messageEvent(
  c: ConnectionContext,
  data: Buffer,
  isBinary: boolean,
  now: number,
): WebSocketEvent {
  return {
    requestContext: requestContext(c, '$default', 'MESSAGE', now),
    body: isBinary ? data.toString('base64') : data.toString('utf8'),
    isBase64Encoded: isBinary,
  };
}

export function disconnectEvent(
  c: ConnectionContext,
  close: { code: number; reason: string },
  now: number,
): WebSocketEvent {
  const headers = { Host: c.domainName, 'X-Forwarded-For': c.sourceIp };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    requestContext: {
      ...requestContext(c, '$disconnect', 'DISCONNECT', now),
      disconnectStatusCode: close.code,
      disconnectReason: close.reason,
    },
    isBase64Encoded: false,
  };
}
