import { createServer, type Server } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answerTarget, notYourRequest } from '../../connector/answer-binding.ts';
import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import type { ForwardedResponse } from '../../connector/ingress/types.ts';
import { OutgoingTunnels } from '../../connector/outgoing.ts';
import { PendingRequests } from '../../connector/pending-requests.ts';
import { RecentlyEnded } from '../../connector/recently-ended.ts';
import { newRequestId } from '../../connector/request-id.ts';
import { parseMessageObject } from '../../shared/protocol/codec.ts';
import { namespaceId } from '../../shared/routing/namespace.ts';

const A = 'sesalice';
const B = 'sesbob';
const answerOf = (text: string): ForwardedResponse => ({ status: 200, headers: {}, body: Buffer.from(text) });

describe('request ids', () => {
  it('carry 128 random bits and fit the protocol once namespaced', () => {
    // Act
    const ids = Array.from({ length: 2000 }, () => newRequestId());

    // Assess
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids.slice(0, 50)) {
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const frame = {
        v: 1,
        type: 'response',
        requestId: namespaceId('us-east', id),
        status: 200,
        headers: {},
      };
      expect(() => parseMessageObject(frame)).not.toThrow();
    }
    // No shared prefix to guess from: the first characters vary across ids.
    expect(new Set(ids.map((id) => id.slice(0, 6))).size).toBeGreaterThan(1900);
  });
});

describe('PendingRequests', () => {
  it('takes the answer only from the session the request was delivered to; the real answer still wins', async () => {
    // Prepare
    const pending = new PendingRequests<ForwardedResponse>();
    const waiting = pending.wait('r1', A, 60_000);

    // Act
    const forged = pending.answer('r1', B, answerOf('forged-by-B'));
    const forgedFallback = pending.answer('r1', B, undefined);
    const real = pending.answer('r1', A, answerOf('from-A'));

    // Assess
    expect([forged, forgedFallback, real]).toEqual(['refused', 'refused', 'bound']);
    expect((await waiting)?.body.toString()).toBe('from-A');
    expect(pending.size).toBe(0);
  });

  it.each([
    { name: 'an id never issued', id: 'guessed', session: A },
    { name: 'an answer without a session', id: 'r1', session: undefined },
    { name: 'another session', id: 'r1', session: B },
  ])('refuses $name', ({ id, session }) => {
    const pending = new PendingRequests<ForwardedResponse>();
    void pending.wait('r1', A, 60_000);

    expect(pending.verdict(id, session)).toBe('refused');
    pending.stop();
  });

  it('drops a repeated or late answer of the rightful session quietly, and still refuses everyone else', async () => {
    // Prepare
    const pending = new PendingRequests<ForwardedResponse>();
    const answered = pending.wait('r1', A, 60_000);
    const timedOut = pending.wait('r2', A, 1);
    pending.answer('r1', A, answerOf('first'));
    expect(await timedOut).toBeUndefined();

    // Act / Assess
    expect(await answered).toMatchObject({ status: 200 });
    expect(pending.answer('r1', A, answerOf('again'))).toBe('ended');
    expect(pending.verdict('r2', A)).toBe('ended');
    expect(pending.verdict('r1', B)).toBe('refused');
    expect(pending.verdict('r2', B)).toBe('refused');
  });

  it('never registers a mirrored copy: every answer to its id is refused, its own session’s too', () => {
    const pending = new PendingRequests<ForwardedResponse>();
    // The connector sends a mirror and waits for nothing: nothing is registered.
    expect(pending.verdict('mirror-1', B)).toBe('refused');
    expect(pending.answer('mirror-1', B, answerOf('x'))).toBe('refused');
  });

  it('sends the requests of an ended session to the upstream, leaving the others waiting', async () => {
    const pending = new PendingRequests<ForwardedResponse>();
    const ofA = pending.wait('r1', A, 60_000);
    const ofB = pending.wait('r2', B, 60_000);

    pending.endSession(A);

    expect(await ofA).toBeUndefined();
    expect(pending.verdict('r2', B)).toBe('bound');
    pending.answer('r2', B, answerOf('b'));
    expect((await ofB)?.body.toString()).toBe('b');
  });

  it('keeps a streamed answer bound to its session until its close', async () => {
    // Prepare
    const pending = new PendingRequests<ForwardedResponse>();
    const head = pending.wait('r1', A, 60_000);
    pending.answer('r1', A, answerOf(''));
    pending.openStream('r1', A);
    await head;

    // Act / Assess: while it streams, its data is Alice's alone.
    expect(pending.verdict('r1', A)).toBe('bound');
    expect(pending.verdict('r1', B)).toBe('refused');
    pending.endStream('r1');
    expect(pending.verdict('r1', A)).toBe('ended');
    expect(pending.verdict('r1', B)).toBe('refused');
    expect(pending.size).toBe(0);
  });
});

describe('RecentlyEnded', () => {
  it('forgets the oldest first, keeping memory bounded', () => {
    const ended = new RecentlyEnded(3);
    for (const k of ['a', 'b', 'c', 'd']) ended.add(k, A);

    expect(ended.size).toBe(3);
    expect(ended.endedFor('a', A)).toBe(false);
    expect(ended.endedFor('d', A)).toBe(true);
    expect(ended.endedFor('d', B)).toBe(false);
  });
});

describe('answerTarget', () => {
  it.each([
    { head: { type: 'response', requestId: 'r1' }, expected: { kind: 'request', requestId: 'r1' } },
    { head: { type: 'error', requestId: 'r1' }, expected: { kind: 'request', requestId: 'r1' } },
    { head: { type: 'data', requestId: 'r1' }, expected: { kind: 'request', requestId: 'r1' } },
    { head: { type: 'close', requestId: 'r1' }, expected: { kind: 'request', requestId: 'r1' } },
    { head: { type: 'outgoing.data', connId: 'c1' }, expected: { kind: 'tunnel', connId: 'c1' } },
    { head: { type: 'outgoing.close', connId: 'c1' }, expected: { kind: 'tunnel', connId: 'c1' } },
    { head: { type: 'env.get', reqId: 'q1' }, expected: undefined },
    { head: { type: 'outgoing.connect', connId: 'c1' }, expected: undefined },
    { head: { type: 'error', reqId: 'q1' }, expected: undefined },
    { head: { type: 'child.close' }, expected: undefined },
  ])('$head.type with $head -> $expected', ({ head, expected }) => {
    expect(answerTarget(head)).toEqual(expected);
  });

  it('builds refusals that are valid error frames whatever the id', () => {
    const longest = 'x'.repeat(128);
    for (const target of [
      { kind: 'request', requestId: longest },
      { kind: 'tunnel', connId: longest },
    ] as const) {
      const err = notYourRequest(target);
      const frame = {
        v: 1,
        type: 'error',
        sessionId: B,
        code: err.code,
        message: err.message,
        ...(target.kind === 'request' ? { requestId: target.requestId } : { connId: target.connId }),
      };
      expect(parseMessageObject(frame)).toMatchObject({ code: 'not_your_request' });
    }
  });
});

describe('OutgoingTunnels binding', () => {
  let server: Server;
  let port: number;
  const received: string[] = [];

  beforeAll(async () => {
    server = createServer((s) => s.on('data', (d) => received.push(d.toString())));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('lets only the session that opened a tunnel touch it, even with the same connection id', async () => {
    // Prepare
    const tunnels = new OutgoingTunnels(
      () => ['127.0.0.1:*'],
      () => {},
      () => {},
    );
    await tunnels.open(A, 'c1', '127.0.0.1', port);

    // Act / Assess
    expect(tunnels.verdict(A, 'c1')).toBe('bound');
    expect(tunnels.verdict(B, 'c1')).toBe('refused');
    expect(tunnels.verdict(undefined, 'c1')).toBe('refused');
    expect(tunnels.write(B, 'c1', Buffer.from('forged'))).toBe(false);
    tunnels.close(A, 'c1');
    expect(tunnels.verdict(A, 'c1')).toBe('ended');
    expect(tunnels.verdict(B, 'c1')).toBe('refused');
    expect(received.join('')).not.toContain('forged');
  });
});

describe('Connector answer binding', () => {
  let connector: Connector;
  let sent: Record<string, unknown>[];
  const frame = (m: Record<string, unknown>) =>
    // What the router delivers: the frame as text, on the connector's one connection.
    connector.peer.socket.emit('message', JSON.stringify({ v: 1, ...m }));

  beforeAll(async () => {
    connector = new Connector({
      // Nobody listens there: the test plays the router by feeding frames to the socket.
      router: 'ws://127.0.0.1:9',
      cluster: 'us-east',
      token: 'unused',
      config: parseConnectorConfig({ services: [], requestDeadlineMs: 60_000 }),
      log: () => {},
    });
    await connector.start();
  });
  afterEach(() => {
    sent = [];
  });
  afterAll(() => connector.stop());

  function steal(requestId: string, sessionId: string) {
    sent = [];
    connector.send = (m) => {
      sent.push(m);
      return true;
    };
    return connector.steal(
      { sessionId, subId: 's1' },
      { requestId, method: 'GET', path: '/', headers: {}, body: Buffer.alloc(0) },
    );
  }

  it('refuses a forged response, error and chunk with not_your_request, counts them, and A’s answer wins', async () => {
    // Prepare
    const requestId = newRequestId();
    const answer = steal(requestId, A);
    const before = connector.refusedAnswers;

    // Act
    frame({
      type: 'response',
      sessionId: B,
      requestId,
      status: 299,
      headers: {},
      body: Buffer.from('forged').toString('base64'),
    });
    frame({ type: 'error', sessionId: B, requestId, code: 'boom', message: 'forged fallback' });
    frame({
      type: 'chunk',
      msgId: 'm1',
      seq: 0,
      total: 2,
      head: { type: 'response', requestId, sessionId: B },
      data: Buffer.from('{"v":1,').toString('base64'),
    });
    frame({ type: 'response', sessionId: B, requestId: newRequestId(), status: 200, headers: {} });
    frame({ type: 'response', sessionId: A, requestId, status: 201, headers: {}, body: 'QQ==' });

    // Assess
    const got = await answer;
    expect(got).toMatchObject({ status: 201 });
    expect(got?.body.toString()).toBe('A');
    const refusals = sent.filter((m) => m.type === 'error');
    expect(refusals).toHaveLength(4);
    for (const r of refusals) expect(r).toMatchObject({ code: 'not_your_request', sessionId: B });
    expect(refusals.slice(0, 3).map((r) => r.requestId)).toEqual([requestId, requestId, requestId]);
    expect(connector.refusedAnswers - before).toBe(4);
  });

  it('takes a fallback from the rightful session, and the router’s client_gone for it', async () => {
    const first = steal('r-fallback', A);
    frame({
      type: 'response',
      sessionId: A,
      requestId: 'r-fallback',
      status: 502,
      headers: {},
      fallback: true,
    });
    expect(await first).toBeUndefined();

    const second = steal('r-gone', A);
    frame({ type: 'error', sessionId: A, requestId: 'r-gone', code: 'client_gone', message: 'gone' });
    expect(await second).toBeUndefined();
    expect(sent.filter((m) => m.type === 'error')).toEqual([]);
  });

  it('drops a late duplicate of the rightful session without a refusal', async () => {
    const answer = steal('r-dup', A);
    frame({ type: 'response', sessionId: A, requestId: 'r-dup', status: 200, headers: {} });
    await answer;
    const before = connector.refusedAnswers;

    frame({ type: 'response', sessionId: A, requestId: 'r-dup', status: 200, headers: {} });
    frame({ type: 'response', sessionId: B, requestId: 'r-dup', status: 200, headers: {} });

    expect(connector.refusedAnswers - before).toBe(1);
    expect(sent.filter((m) => m.type === 'error').map((m) => m.sessionId)).toEqual([B]);
  });

  it('refuses tunnel frames for a connection the session does not hold', () => {
    sent = [];
    connector.send = (m) => {
      sent.push(m);
      return true;
    };
    frame({ type: 'outgoing.data', sessionId: B, connId: 'c9', data: 'AA==' });
    frame({ type: 'outgoing.close', sessionId: B, connId: 'c9' });

    expect(sent).toEqual([
      expect.objectContaining({ type: 'error', sessionId: B, connId: 'c9', code: 'not_your_request' }),
      expect.objectContaining({ type: 'error', sessionId: B, connId: 'c9', code: 'not_your_request' }),
    ]);
  });
});
