import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PayloadTooLargeException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RawData, WebSocket } from 'ws';
import { ENV } from '../../functions/lib/env.ts';
import type { WsHandler } from '../../infra/local/handlers.ts';
import type { WebSocketEvent } from '../../infra/local/websocket-events.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

const CONNECTION_ID = /^[A-Za-z0-9_-]{15}=$/;

/** The real management client, pointed where handlers point theirs: SWITCHYARD_WS_ENDPOINT. */
function managementClient(): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    region: 'us-east-1',
    endpoint: process.env[ENV.wsManagementEndpoint]!,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}

type AuthorizerEvent = WebSocketEvent & { type: 'REQUEST'; methodArn: string };
const isAuthorizerEvent = (e: unknown): e is AuthorizerEvent => (e as { type?: unknown }).type === 'REQUEST';

/** What the recording handler's authorizer answers: `authz=deny|throw|bogus` in the query, or an Allow. */
function authorizerAnswer(event: AuthorizerEvent): unknown {
  const authz = event.queryStringParameters?.authz;
  if (authz === 'throw') throw new Error('authorizer crashed');
  if (authz === 'bogus') return { statusCode: 200 };
  const effect = authz === 'deny' ? 'Deny' : 'Allow';
  return {
    principalId: 'tester',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: event.methodArn }],
    },
    context: { role: 'tester', n: 7, ok: true },
  };
}

/**
 * A test-local ws handler: it records every event and follows instructions in the query
 * (`reject`, `fail`, `postDuringConnect`, `authz`) and in message bodies (`echo:`, `throw`, `slow:`).
 */
function recordingHandler(): {
  handler: WsHandler;
  events: WebSocketEvent[];
  authorizerEvents: AuthorizerEvent[];
  connectPostError: string[];
} {
  const events: WebSocketEvent[] = [];
  const authorizerEvents: AuthorizerEvent[] = [];
  const connectPostError: string[] = [];
  // Built on first use: the endpoint is only in the environment once the runtime runs.
  let client: ApiGatewayManagementApiClient | undefined;
  const mgmt = {
    send: (c: PostToConnectionCommand) => {
      client ??= managementClient();
      return client.send(c);
    },
  };
  const handler: WsHandler = async (event) => {
    if (isAuthorizerEvent(event)) {
      authorizerEvents.push(event);
      return authorizerAnswer(event);
    }
    events.push(event);
    const { routeKey, connectionId } = event.requestContext;
    if (routeKey === '$connect') {
      const q = event.queryStringParameters ?? {};
      if (q.fail) throw new Error('connect handler crashed');
      if (q.postDuringConnect) {
        await mgmt
          .send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'too early' }))
          .catch((err: Error) => connectPostError.push(err.name));
      }
      if (q.reject) {
        return { statusCode: Number(q.reject), body: JSON.stringify({ error: { code: 'unauthorized' } }) };
      }
      return { statusCode: 200 };
    }
    if (routeKey === '$default') {
      const body = event.body ?? '';
      if (body === 'throw') throw new Error('message handler crashed');
      if (body.startsWith('slow:')) await new Promise((r) => setTimeout(r, Math.random() * 10));
      if (body.startsWith('echo:')) {
        await mgmt.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: body.slice(5) }));
      }
    }
    return { statusCode: 200 };
  };
  return { handler, events, authorizerEvents, connectPostError };
}

interface Client {
  ws: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
}

/** The authorizer's identity source: API Gateway calls nothing for an upgrade without it. */
const AUTH = { Authorization: 'Bearer test' };

async function connect(url: string, headers: Record<string, string> = AUTH): Promise<Client> {
  const ws = new WebSocket(url, { headers });
  const messages: string[] = [];
  ws.on('message', (data: RawData) => messages.push(data.toString()));
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`upgrade refused with ${res.statusCode}`)),
    );
    ws.once('error', reject);
  });
  return { ws, messages, closed };
}

/** The status and body of a refused upgrade. */
async function refusal(
  url: string,
  headers: Record<string, string> = AUTH,
): Promise<{ status: number; body: string }> {
  const ws = new WebSocket(url, { headers });
  return new Promise((resolve, reject) => {
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
  });
}

describe('local WebSocket gateway (API Gateway emulation)', () => {
  let rt: TestRuntime;
  let recorder: ReturnType<typeof recordingHandler>;
  let mgmt: ApiGatewayManagementApiClient;
  const clients: Client[] = [];

  beforeAll(async () => {
    recorder = recordingHandler();
    rt = await startTestRuntime({ handlers: { ws: (e, c) => recorder.handler(e, c) } });
    mgmt = managementClient();
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.ws.terminate();
  });
  afterAll(async () => {
    mgmt?.destroy();
    await rt?.stop();
  });

  const open = async (
    query = '',
    headers: Record<string, string> = AUTH,
  ): Promise<Client & { id: string }> => {
    const before = recorder.events.length;
    const client = await connect(`${rt.wsUrl}${query}`, headers);
    clients.push(client);
    const event = recorder.events.slice(before).find((e) => e.requestContext.routeKey === '$connect')!;
    return { ...client, id: event.requestContext.connectionId };
  };
  const eventsOf = (id: string, routeKey?: string): WebSocketEvent[] =>
    recorder.events.filter(
      (e) => e.requestContext.connectionId === id && (!routeKey || e.requestContext.routeKey === routeKey),
    );

  it('builds a $connect event with the upgrade headers (as sent) and query string', async () => {
    const { id } = await open('?session=s-1&tag=a&tag=b', {
      'X-Test-Header': 'yes',
      Authorization: 'Bearer t',
    });
    const [event] = eventsOf(id, '$connect');
    expect(id).toMatch(CONNECTION_ID);
    expect(event).toMatchObject({
      headers: { 'X-Test-Header': 'yes', Authorization: 'Bearer t', 'X-Forwarded-For': '127.0.0.1' },
      multiValueHeaders: { 'X-Test-Header': ['yes'] },
      queryStringParameters: { session: 's-1', tag: 'b' },
      multiValueQueryStringParameters: { tag: ['a', 'b'] },
      isBase64Encoded: false,
      requestContext: {
        routeKey: '$connect',
        eventType: 'CONNECT',
        messageDirection: 'IN',
        stage: 'local',
        apiId: 'local',
        domainName: new URL(rt.httpUrl).host,
        identity: { sourceIp: '127.0.0.1' },
      },
    });
    const ctx = event!.requestContext;
    expect(ctx.requestId).toMatch(CONNECTION_ID);
    expect(ctx.extendedRequestId).toMatch(CONNECTION_ID);
    expect(ctx.messageId).toBeUndefined();
    expect(ctx.connectedAt).toBe(ctx.requestTimeEpoch);
    expect(ctx.requestTime).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
  });

  it('runs the REQUEST authorizer first, with the upgrade headers, query and $connect method ARN', async () => {
    const before = recorder.authorizerEvents.length;
    const { id } = await open('?session=s-2', { Authorization: 'Bearer t', 'X-Test-Header': 'yes' });
    const [auth] = recorder.authorizerEvents.slice(before);
    expect(auth).toMatchObject({
      type: 'REQUEST',
      methodArn: 'arn:aws:execute-api:us-east-1:000000000000:local/local/$connect',
      headers: { Authorization: 'Bearer t', 'X-Test-Header': 'yes' },
      multiValueHeaders: { Authorization: ['Bearer t'] },
      queryStringParameters: { session: 's-2' },
      stageVariables: {},
      requestContext: { routeKey: '$connect', eventType: 'CONNECT', connectionId: id, apiId: 'local' },
    });
    expect(auth!.requestContext).not.toHaveProperty('authorizer');
  });

  it("attaches the authorizer's context to the $connect, $default and $disconnect events", async () => {
    const c = await open();
    c.ws.send('echo:x');
    await eventually(() => c.messages.length === 1, 5000, 'the echo');
    c.ws.close();
    await eventually(() => eventsOf(c.id, '$disconnect')[0], 5000, '$disconnect');
    const authorizer = { role: 'tester', n: 7, ok: true, principalId: 'tester' };
    for (const routeKey of ['$connect', '$default', '$disconnect']) {
      const [event] = eventsOf(c.id, routeKey);
      expect(event!.requestContext.authorizer).toMatchObject(authorizer);
      expect(event!.requestContext.authorizer?.integrationLatency).toEqual(expect.any(Number));
    }
  });

  it.each([
    { authz: 'deny', status: 403, message: 'Forbidden' },
    { authz: 'throw', status: 500, message: 'Internal server error' },
    { authz: 'bogus', status: 500, message: 'Internal server error' },
  ])(
    'refuses the upgrade with $status when the authorizer answers $authz',
    async ({ authz, status, message }) => {
      const before = recorder.events.length;
      const authBefore = recorder.authorizerEvents.length;
      const res = await refusal(`${rt.wsUrl}?authz=${authz}`);
      expect(res.status).toBe(status);
      expect(JSON.parse(res.body)).toEqual({ message });
      expect(recorder.authorizerEvents.length).toBe(authBefore + 1);
      // $connect never ran.
      await new Promise((r) => setTimeout(r, 50));
      expect(recorder.events.slice(before)).toEqual([]);
    },
  );

  it('answers 401 without calling anything when the Authorization header is missing', async () => {
    const before = recorder.events.length;
    const authBefore = recorder.authorizerEvents.length;
    const res = await refusal(rt.wsUrl, {});
    expect(res.status).toBe(401);
    expect(JSON.parse(res.body)).toEqual({ message: 'Unauthorized' });
    expect(recorder.authorizerEvents.length).toBe(authBefore);
    expect(recorder.events.length).toBe(before);
  });

  it('leaves the query keys out when there is no query string', async () => {
    const { id } = await open();
    const [event] = eventsOf(id, '$connect');
    expect(event).not.toHaveProperty('queryStringParameters');
    expect(event).not.toHaveProperty('multiValueQueryStringParameters');
  });

  it.each([401, 403, 429])('refuses the upgrade with the status $connect returned (%i)', async (status) => {
    const before = recorder.events.length;
    const res = await refusal(`${rt.wsUrl}?reject=${status}`);
    expect(res.status).toBe(status);
    expect(JSON.parse(res.body)).toEqual({ error: { code: 'unauthorized' } });
    // A refused connection never existed: no $disconnect follows.
    const connect = recorder.events.slice(before).find((e) => e.requestContext.routeKey === '$connect')!;
    await new Promise((r) => setTimeout(r, 50));
    expect(eventsOf(connect.requestContext.connectionId).map((e) => e.requestContext.routeKey)).toEqual([
      '$connect',
    ]);
  });

  it('refuses the upgrade with 500 when $connect throws', async () => {
    const res = await refusal(`${rt.wsUrl}?fail=1`);
    expect(res.status).toBe(500);
    expect(JSON.parse(res.body)).toEqual({ message: 'Internal server error' });
  });

  it('answers 404 to an upgrade on another path', async () => {
    const res = await refusal(rt.wsUrl.replace(/\/ws$/, '/elsewhere'));
    expect(res.status).toBe(404);
  });

  it('does not let a handler post to a connection before $connect accepted it (GoneException)', async () => {
    await open('?postDuringConnect=1');
    expect(recorder.connectPostError).toEqual(['GoneException']);
  });

  it('round-trips $default: the handler posts back through the real management client', async () => {
    const c = await open();
    c.ws.send('echo:hello');
    await eventually(() => c.messages.length === 1, 5000, 'the echo');
    expect(c.messages).toEqual(['hello']);
    const [event] = eventsOf(c.id, '$default');
    expect(event).toMatchObject({
      body: 'echo:hello',
      isBase64Encoded: false,
      requestContext: { routeKey: '$default', eventType: 'MESSAGE', connectionId: c.id },
    });
    expect(event!.requestContext.messageId).toMatch(CONNECTION_ID);
  });

  it('passes binary frames base64-encoded', async () => {
    const c = await open();
    c.ws.send(Buffer.from([0, 1, 2, 255]));
    const event = await eventually(() => eventsOf(c.id, '$default')[0], 5000, 'the binary message');
    expect(event.isBase64Encoded).toBe(true);
    expect(Buffer.from(event.body!, 'base64')).toEqual(Buffer.from([0, 1, 2, 255]));
  });

  it("delivers one connection's events in order even when the handler takes varying time", async () => {
    const c = await open();
    const sent = Array.from({ length: 30 }, (_, i) => `slow:${i}`);
    for (const m of sent) c.ws.send(m);
    await eventually(() => eventsOf(c.id, '$default').length === sent.length, 10_000, 'every message');
    expect(eventsOf(c.id, '$default').map((e) => e.body)).toEqual(sent);
  });

  it('tells the client when the $default handler fails, as API Gateway does', async () => {
    const c = await open();
    c.ws.send('throw');
    await eventually(() => c.messages.length === 1, 5000, 'the error frame');
    expect(JSON.parse(c.messages[0]!)).toEqual({
      message: 'Internal server error',
      connectionId: c.id,
      requestId: expect.stringMatching(CONNECTION_ID),
    });
  });

  it('describes a connection (GET @connections/{id})', async () => {
    const c = await open('', { ...AUTH, 'User-Agent': 'switchyard-test' });
    c.ws.send('echo:x');
    await eventually(() => c.messages.length === 1, 5000, 'the echo');
    const info = await mgmt.send(new GetConnectionCommand({ ConnectionId: c.id }));
    expect(info.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'switchyard-test' });
    expect(info.ConnectedAt).toBeInstanceOf(Date);
    expect(info.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(info.ConnectedAt!.getTime());
    expect(
      Math.abs(info.ConnectedAt!.getTime() - eventsOf(c.id, '$connect')[0]!.requestContext.connectedAt),
    ).toBeLessThan(1000);
  });

  it('closes a connection on DELETE, runs $disconnect, and answers 410 GoneException afterwards', async () => {
    const c = await open();
    await mgmt.send(new DeleteConnectionCommand({ ConnectionId: c.id }));
    const close = await c.closed;
    expect(close.code).toBe(1000);
    const disconnect = await eventually(() => eventsOf(c.id, '$disconnect')[0], 5000, '$disconnect');
    expect(disconnect.requestContext).toMatchObject({
      eventType: 'DISCONNECT',
      connectionId: c.id,
      disconnectStatusCode: 1000,
    });
    for (const command of [
      new PostToConnectionCommand({ ConnectionId: c.id, Data: 'late' }),
      new GetConnectionCommand({ ConnectionId: c.id }),
      new DeleteConnectionCommand({ ConnectionId: c.id }),
    ]) {
      // biome-ignore lint/suspicious/noExplicitAny: the three commands share one client
      const err = await mgmt.send(command as any).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GoneException);
      expect((err as GoneException).$metadata.httpStatusCode).toBe(410);
    }
  });

  it('answers 410 GoneException for a connection id that never existed', async () => {
    const err = await mgmt
      .send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' }))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GoneException);
  });

  it('runs $disconnect when the client closes', async () => {
    const c = await open();
    c.ws.close(4000, 'bye');
    const disconnect = await eventually(() => eventsOf(c.id, '$disconnect')[0], 5000, '$disconnect');
    expect(disconnect.requestContext).toMatchObject({ disconnectStatusCode: 4000, disconnectReason: 'bye' });
  });

  it.each([
    { bytes: 32 * 1024, accepted: true },
    { bytes: 32 * 1024 + 1, accepted: false },
  ])(
    'an incoming frame of $bytes bytes: accepted=$accepted (API Gateway: 32 KB frames)',
    async ({ bytes, accepted }) => {
      const c = await open();
      c.ws.send('a'.repeat(bytes));
      if (accepted) {
        const event = await eventually(() => eventsOf(c.id, '$default')[0], 5000, 'the message');
        expect(event.body).toHaveLength(bytes);
      } else {
        expect((await c.closed).code).toBe(1009);
        await eventually(() => eventsOf(c.id, '$disconnect')[0], 5000, '$disconnect');
        expect(eventsOf(c.id, '$default')).toEqual([]);
      }
    },
  );

  it.each([
    { bytes: 128 * 1024, accepted: true },
    { bytes: 128 * 1024 + 1, accepted: false },
  ])(
    'a posted payload of $bytes bytes: accepted=$accepted (API Gateway: 128 KB)',
    async ({ bytes, accepted }) => {
      const c = await open();
      const send = mgmt.send(new PostToConnectionCommand({ ConnectionId: c.id, Data: 'b'.repeat(bytes) }));
      if (accepted) {
        await send;
        await eventually(() => c.messages.length === 1, 5000, 'the posted message');
        expect(c.messages[0]).toHaveLength(bytes);
      } else {
        const err = await send.catch((e: unknown) => e);
        expect(err).toBeInstanceOf(PayloadTooLargeException);
        expect((err as PayloadTooLargeException).$metadata.httpStatusCode).toBe(413);
        expect(c.messages).toEqual([]);
      }
    },
  );
});

describe('local WebSocket gateway: limits and shutdown', () => {
  it('closes an idle connection with 1001, and every connection on stop with its $disconnect', async () => {
    const events: WebSocketEvent[] = [];
    const rt = await startTestRuntime({
      gateway: { idleTimeoutMs: 300 },
      handlers: {
        ws: async (e) => {
          if (isAuthorizerEvent(e)) return authorizerAnswer(e);
          events.push(e);
          return { statusCode: 200 };
        },
      },
    });
    try {
      const idle = await connect(rt.wsUrl);
      expect((await idle.closed).code).toBe(1001);

      const busy = await connect(rt.wsUrl);
      await rt.stop();
      expect((await busy.closed).code).toBe(1001);
      // Both connections got their $disconnect before stop() returned.
      expect(events.filter((e) => e.requestContext.routeKey === '$disconnect')).toHaveLength(2);
    } finally {
      await rt.stop();
    }
  });
});

describe('local WebSocket gateway with the router handler: the $connect authorizer', () => {
  let rt: TestRuntime;
  beforeAll(async () => {
    rt = await startTestRuntime();
  });
  afterAll(() => rt?.stop());

  it("refuses with the router's own status and error body, carried from the authorizer to $connect", async () => {
    const [clusterId, token] = Object.entries(rt.clusterTokens)[0]!;
    const wrong = await refusal(`${rt.wsUrl}?cluster=not-${clusterId}`, { Authorization: `Bearer ${token}` });
    expect(wrong.status).toBe(403);
    expect(JSON.parse(wrong.body).error.message).toContain(`this token belongs to cluster '${clusterId}'`);
    const unknown = await refusal(`${rt.wsUrl}?session=abc`, { Authorization: 'Bearer not-a-token' });
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.body)).toHaveProperty('error.code');
    const noSession = await refusal(rt.wsUrl, { Authorization: `Bearer ${rt.developerToken}` });
    expect(noSession.status).toBe(400);
    expect(JSON.parse(noSession.body).error.message).toContain('?session=<session id>');
  });

  it('accepts a cluster whose token matches, and marks it connected', async () => {
    const [clusterId, token] = Object.entries(rt.clusterTokens)[0]!;
    const c = await connect(`${rt.wsUrl}?cluster=${clusterId}`, { Authorization: `Bearer ${token}` });
    try {
      const res = await fetch(`${rt.httpUrl}/v1/clusters`, {
        headers: { authorization: `Bearer ${rt.developerToken}` },
      });
      const body = (await res.json()) as { clusters: { id: string; connected: boolean }[] };
      expect(body.clusters.find((x) => x.id === clusterId)?.connected).toBe(true);
    } finally {
      c.ws.terminate();
    }
  });
});
