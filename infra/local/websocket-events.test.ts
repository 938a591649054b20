import { describe, expect, it } from 'vitest';
import {
  apiGatewayId,
  type ConnectionContext,
  connectEvent,
  disconnectEvent,
  messageEvent,
  requestTime,
} from './websocket-events.ts';

const context: ConnectionContext = {
  connectionId: 'L0SM9cOFvHcCIhw=',
  connectedAt: Date.UTC(2024, 1, 9, 7, 5, 3),
  domainName: '127.0.0.1:8787',
  stage: 'local',
  apiId: 'local',
  sourceIp: '127.0.0.1',
};

describe('API Gateway WebSocket events', () => {
  it('formats requestTime as API Gateway does', () => {
    expect(requestTime(Date.UTC(2024, 1, 9, 7, 5, 3))).toBe('09/Feb/2024:07:05:03 +0000');
    expect(requestTime(Date.UTC(2023, 11, 31, 23, 59, 59))).toBe('31/Dec/2023:23:59:59 +0000');
  });

  it('makes ids shaped like API Gateway connection ids', () => {
    const ids = new Set(Array.from({ length: 50 }, apiGatewayId));
    expect(ids.size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{15}=$/);
  });

  it('keeps repeated headers and query parameters in the multi-value maps', () => {
    const event = connectEvent(context, {
      rawHeaders: ['Host', '127.0.0.1:8787', 'X-Tag', 'a', 'X-Tag', 'b', 'X-Forwarded-For', '10.0.0.1'],
      search: new URLSearchParams('k=1&k=2'),
      port: 8787,
    });
    expect(event.headers).toMatchObject({
      'X-Tag': 'a,b',
      'X-Forwarded-For': '10.0.0.1',
      'X-Forwarded-Port': '8787',
    });
    expect(event.multiValueHeaders?.['X-Tag']).toEqual(['a', 'b']);
    expect(event.queryStringParameters).toEqual({ k: '2' });
    expect(event.multiValueQueryStringParameters).toEqual({ k: ['1', '2'] });
    expect(event.requestContext.requestTimeEpoch).toBe(context.connectedAt);
  });

  it.each([
    { data: Buffer.from('{"v":1}'), isBinary: false, body: '{"v":1}' },
    { data: Buffer.from([1, 2, 3]), isBinary: true, body: 'AQID' },
  ])('message body (binary: $isBinary)', ({ data, isBinary, body }) => {
    const event = messageEvent(context, data, isBinary, 1_000);
    expect(event).toMatchObject({ body, isBase64Encoded: isBinary });
    expect(event.requestContext).toMatchObject({
      routeKey: '$default',
      eventType: 'MESSAGE',
      requestTimeEpoch: 1_000,
    });
  });

  it('puts the close code and reason on $disconnect only', () => {
    const event = disconnectEvent(context, { code: 1006, reason: '' }, 2_000);
    expect(event.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1006,
      disconnectReason: '',
    });
    expect(event.requestContext).not.toHaveProperty('messageId');
    expect(messageEvent(context, Buffer.from('x'), false, 1).requestContext).not.toHaveProperty(
      'disconnectStatusCode',
    );
  });
});
