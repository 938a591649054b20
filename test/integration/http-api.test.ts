import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';

let runtime: TestRuntime;
beforeAll(async () => {
  runtime = await startTestRuntime();
});
afterAll(async () => {
  await runtime?.stop();
});

async function call(method: string, path: string, opts: { token?: string | null; body?: string } = {}) {
  const token = opts.token === undefined ? runtime.developerToken : opts.token;
  const res = await fetch(`${runtime.httpUrl}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(opts.body !== undefined ? { body: opts.body } : {}),
  });
  // biome-ignore lint/suspicious/noExplicitAny: the tests read nested JSON bodies freely
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe('HTTP API', () => {
  it('answers /healthz without a token', async () => {
    expect(await call('GET', '/healthz', { token: null })).toEqual({ status: 200, body: { ok: true } });
  });

  it.each([
    { name: 'no token', token: null },
    { name: 'an unknown token', token: 'sy_dev_not-a-real-token' },
    { name: 'a malformed header value', token: 'x'.repeat(300) },
  ])('refuses /v1 with $name: 401 and the error body', async ({ token }) => {
    const r = await call('GET', '/v1/clusters', { token });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('unauthorized');
    expect(r.body.error.message).toContain('Authorization: Bearer');
  });

  it('lists the clusters with roles, regions, queue URLs and connection state', async () => {
    const r = await call('GET', '/v1/clusters');
    expect(r.status).toBe(200);
    const [east, west] = r.body.clusters;
    expect(east).toMatchObject({
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      region: 'us-east-1',
      connected: false,
    });
    expect(east.queues[0]).toMatchObject({
      name: 'orders',
      source: { name: 'east-orders' },
      fallback: { name: 'east-orders-fallback' },
    });
    expect(east.queues[0].source.url).toMatch(
      /^http:\/\/sqs\.us-east-1\.localhost:\d+\/000000000000\/east-orders$/,
    );
    expect(west).toMatchObject({ id: 'west', region: 'us-west-2', lastSeen: null });
  });

  it.each([
    { name: 'invalid JSON', body: '{ nope', code: 'invalid_request', says: 'not valid JSON' },
    {
      name: 'an unknown field',
      body: JSON.stringify({ service: 'api', colour: 'red' }),
      code: 'invalid_request',
      says: 'colour',
    },
    {
      name: 'a split with a backtracking pattern',
      body: JSON.stringify({ splits: [{ queue: 'orders', mode: 'steal', filter: { customer: '(a+)+$' } }] }),
      code: 'invalid_request',
      says: 'splits.0.filter',
    },
    {
      name: 'a split with an empty filter',
      body: JSON.stringify({ splits: [{ queue: 'orders', mode: 'steal', filter: {} }] }),
      code: 'invalid_request',
      says: 'splits.0.filter',
    },
  ])('refuses a session request with $name: 400 naming what is wrong', async ({ body, code, says }) => {
    const r = await call('POST', '/v1/sessions', { body });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe(code);
    expect(r.body.error.message).toContain(says);
  });

  it('refuses a session while its clusters are not connected, naming them (503)', async () => {
    const r = await call('POST', '/v1/sessions', { body: JSON.stringify({ service: 'api' }) });
    expect(r.status).toBe(503);
    expect(r.body.error.code).toBe('cluster_unavailable');
    expect(r.body.error.message).toMatch(/clusters 'east', 'west' are not connected/);
  });

  it('answers unknown routes and unknown sessions with the error body', async () => {
    expect((await call('GET', '/v1/nothing')).body.error.code).toBe('not_found');
    const r = await call('GET', '/v1/sessions/abc123');
    expect(r).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('serves an OpenAPI document generated from the same schemas', async () => {
    const r = await call('GET', '/openapi.json', { token: null });
    expect(r.status).toBe(200);
    expect(r.body.openapi).toBe('3.1.0');
    expect(Object.keys(r.body.paths).sort()).toEqual(
      expect.arrayContaining([
        '/v1/branches',
        '/v1/branches/{id}',
        '/v1/clusters',
        '/v1/sessions',
        '/v1/sessions/{id}',
      ]),
    );
    expect(r.body.components.schemas.Session.properties.clusters).toBeDefined();
    expect(r.body.paths['/v1/sessions'].post.requestBody.content['application/json'].schema).toBeDefined();
  });
});
