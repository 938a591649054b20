import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeTrafficRouter } from '../../test/helpers/fake-traffic-router.ts';
import { decide, requestKind } from './decide.ts';
import { upstreamRequestHeaders } from './headers.ts';
import type { Match, RequestHead, TrafficRouter } from './types.ts';

const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,11}$/);
const headerValue = fc.stringMatching(/^[ -~]{0,24}$/);
const head: fc.Arbitrary<RequestHead> = fc.record({
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
  path: fc.stringMatching(/^\/[a-z0-9/._-]{0,30}$/),
  headers: fc.dictionary(
    fc.oneof(token, fc.constantFrom('upgrade', 'connection', 'content-type', 'x-dev')),
    fc.oneof(headerValue, fc.constantFrom('websocket', 'Upgrade', 'keep-alive, upgrade', 'application/grpc')),
    { maxKeys: 6 },
  ),
});
const target = fc.record({ sessionId: token, subId: token });
const match: fc.Arbitrary<Match> = fc.record(
  { steal: target, mirrors: fc.array(target, { maxLength: 4 }) },
  { requiredKeys: ['mirrors'] },
);

/** A router that answers a fixed match and records what it was asked. */
function scripted(answer: Match): TrafficRouter & { asked: RequestHead[] } {
  const asked: RequestHead[] = [];
  return {
    asked,
    match: (_service, h) => {
      asked.push(h);
      return answer;
    },
    steal: async () => undefined,
    mirror: () => {},
  };
}

describe('requestKind', () => {
  it.each([
    [{ upgrade: 'websocket', connection: 'Upgrade' }, 'upgrade'],
    [{ upgrade: 'h2c', connection: 'keep-alive, upgrade, HTTP2-Settings' }, 'upgrade'],
    [{ upgrade: 'websocket' }, 'http'], // Upgrade without Connection: upgrade is no upgrade
    [{ connection: 'upgrade' }, 'http'],
    [{ 'content-type': 'application/grpc+proto' }, 'grpc'],
    [{ 'content-type': 'application/json' }, 'http'],
  ])('%j is %s', (headers, kind) => {
    expect(requestKind({ method: 'GET', path: '/', headers })).toBe(kind);
  });
});

describe('decide (head-only routing)', () => {
  it('asks the router once, with the head as given, and never alters it', () => {
    fc.assert(
      fc.property(head, match, (h, m) => {
        const before = structuredClone(h);
        const router = scripted(m);
        decide(router, 'api', h);
        expect(router.asked).toEqual([before]);
        expect(h).toEqual(before);
      }),
    );
  });

  it('is a function of the head: the same head and subscriptions give the same decision', () => {
    fc.assert(
      fc.property(head, match, (h, m) => {
        expect(decide(scripted(m), 'api', h)).toEqual(decide(scripted(m), 'api', structuredClone(h)));
      }),
    );
  });

  it('steals every kind: plain HTTP requests, upgrades and gRPC calls', () => {
    fc.assert(
      fc.property(head, match, (h, m) => {
        expect(decide(scripted(m), 'api', h).steal).toEqual(m.steal);
      }),
    );
  });

  it('copies every request with a body to its mirrors, and no upgraded connection', () => {
    fc.assert(
      fc.property(head, match, (h, m) => {
        const d = decide(scripted(m), 'api', h);
        expect(d.mirrors).toEqual(d.kind === 'upgrade' ? [] : m.mirrors);
      }),
    );
  });

  it('routes by real filters: a header filter selects by header, and a gRPC call by its metadata', () => {
    const router = new FakeTrafficRouter();
    router.subscribe('steal', { headers: { 'x-dev': '^ann$' } }, 'ann');
    router.subscribe('mirror', { path: '^/echo\\.' }, 'bea');
    const grpc = { 'content-type': 'application/grpc', 'x-dev': 'ann' };

    expect(decide(router, 'api', { method: 'GET', path: '/a', headers: { 'X-Dev': 'ann' } })).toEqual({
      kind: 'http',
      steal: { sessionId: 'ann', subId: 'sub' },
      mirrors: [],
    });
    expect(decide(router, 'api', { method: 'POST', path: '/echo.Echo/Say', headers: grpc })).toEqual({
      kind: 'grpc',
      steal: { sessionId: 'ann', subId: 'sub' },
      mirrors: [{ sessionId: 'bea', subId: 'sub' }],
    });
    expect(decide(router, 'api', { method: 'GET', path: '/a', headers: { 'x-dev': 'bob' } })).toEqual({
      kind: 'http',
      mirrors: [],
    });
    // A WebSocket: the steal takes it; the mirror (had it matched) would get no copy.
    const ws = { upgrade: 'websocket', connection: 'Upgrade', 'x-dev': 'ann' };
    expect(decide(router, 'api', { method: 'GET', path: '/echo.ws', headers: ws })).toEqual({
      kind: 'upgrade',
      steal: { sessionId: 'ann', subId: 'sub' },
      mirrors: [],
    });
  });
});

describe('upstreamRequestHeaders', () => {
  const hopByHop = ['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'proxy-authorization'];
  const raw = fc
    .array(fc.tuple(fc.oneof(token, fc.constantFrom(...hopByHop, 'x-forwarded-for', 'host')), headerValue), {
      maxLength: 8,
    })
    .map((pairs) => pairs.flat());

  it('drops hop-by-hop headers, keeps the rest in order, sets one Host and extends X-Forwarded-For', () => {
    fc.assert(
      fc.property(raw, fc.ipV4(), (flat, ip) => {
        const out = upstreamRequestHeaders(flat, { remoteAddress: ip, proto: 'http' }, 'up:80');
        const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        const listed = new Set(
          flat
            .filter((_, i) => i % 2 === 1 && flat[i - 1]!.toLowerCase() === 'connection')
            .flatMap((v) => v.split(',').map((t) => t.trim().toLowerCase())),
        );
        const kept = flat.filter((_, i) => {
          const n = flat[i - (i % 2)]!.toLowerCase();
          return !hopByHop.includes(n) && !listed.has(n) && n !== 'host' && n !== 'x-forwarded-for';
        });

        expect(names.filter((n) => hopByHop.includes(n))).toEqual([]);
        expect(names.filter((n) => n === 'host')).toEqual(['host']);
        expect(out.slice(0, kept.length)).toEqual(kept);
        const prior = flat.filter((_, i) => i % 2 === 1 && flat[i - 1] === 'x-forwarded-for');
        expect(out[out.indexOf('x-forwarded-for') + 1]).toBe([...prior, ip].join(', '));
      }),
    );
  });

  it('keeps X-Forwarded-Proto and -Host a proxy in front set, else sets them from this hop', () => {
    const client = { remoteAddress: '10.1.2.3', proto: 'http' };
    expect(upstreamRequestHeaders(['Host', 'shop.example'], client, 'api:80')).toEqual([
      'host',
      'api:80',
      'x-forwarded-for',
      '10.1.2.3',
      'x-forwarded-proto',
      'http',
      'x-forwarded-host',
      'shop.example',
    ]);
    const behindTls = upstreamRequestHeaders(
      ['Host', 'api:8080', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'shop.example'],
      client,
      'api:80',
    );
    expect(behindTls).toContain('https');
    expect(behindTls.filter((v) => v.toLowerCase() === 'x-forwarded-proto')).toHaveLength(1);
    expect(behindTls[behindTls.indexOf('X-Forwarded-Host') + 1]).toBe('shop.example');
  });
});
