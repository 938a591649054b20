import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { Balancer } from '../../infra/local/balancer.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import {
  type ConnectorProcess,
  killConnector,
  type RequestRecord,
  requestLoop,
  startConnectorProcess,
} from './connector-process.ts';
import { api, listen, namedServer } from './harness.ts';

const DRAIN_MS = 1_000;
const GRACE_MS = 4_000;

const served = (records: RequestRecord[], by: string, after = 0) =>
  records.filter((r) => r.ok && r.servedBy === by && r.start >= after).length;

/**
 * Three replicas of one cluster's connector, each a `switchyard connector` process in front of
 * its own upstream (so a response tells which replica served it), behind the balancer that
 * stands for the Service. Replica a is rolled (SIGTERM), replica b crashes (SIGKILL).
 */
describe('connector replicas behind a Service: probes, SIGTERM, SIGKILL', () => {
  let dir: string;
  let rt: TestRuntime;
  let balancer: Balancer;
  let url: string;
  const upstreams: Server[] = [];
  const replicas: Record<string, ConnectorProcess> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-lifecycle-'));
    rt = await startTestRuntime();
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, rt.clusterTokens.east!, { mode: 0o600 });
    await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        const upstream = namedServer(name);
        upstreams.push(upstream);
        replicas[name] = await startConnectorProcess({
          dir,
          name,
          router: rt.wsUrl,
          cluster: 'east',
          tokenFile,
          upstream: `http://127.0.0.1:${await listen(upstream)}`,
          drainMs: DRAIN_MS,
          graceMs: GRACE_MS,
        });
      }),
    );
    balancer = new Balancer(
      Object.entries(replicas).map(([name, p]) => ({
        name,
        port: Number(new URL(p.ingressUrl).port),
        readyUrl: `${p.adminUrl}/readyz`,
      })),
      { pollMs: 100 },
    );
    url = `http://127.0.0.1:${await balancer.listen()}/orders`;
  });

  afterAll(async () => {
    await balancer?.close();
    await Promise.all(Object.values(replicas).map(killConnector));
    for (const u of upstreams) {
      u.closeAllConnections();
      u.close();
    }
    await rt?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves /healthz and /readyz on the admin port, apart from the ingress', async () => {
    const a = replicas.a!;
    expect(a.adminUrl).not.toBe(a.ingressUrl);
    const health = await fetch(`${a.adminUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await eventually(async () => {
      const r = await a.readyz();
      return r.body.router.state === 'connected' ? r : undefined;
    });
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, phase: 'serving', detail: 'serving; router: connected' });
    expect((await fetch(`${a.adminUrl}/readyz`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${a.adminUrl}/nothing`)).status).toBe(404);
    // The ingress is the service's, not the admin's.
    expect((await fetch(`${a.ingressUrl}/readyz`)).headers.get('x-served-by')).toBe('a');
    // What went where, in Prometheus's format: the request just made went through to the upstream.
    const metrics = await fetch(`${a.adminUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    const passed =
      /^switchyard_ingress_passed_through_total\{service="[^"]+",cluster="[^"]+",replica="[^"]+"\} (\d+)$/m.exec(
        text,
      );
    expect(Number(passed?.[1])).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^switchyard_connector_router_connected\{[^}]*\} 1$/m);
    expect(balancer.ready().sort()).toEqual(['a', 'b', 'c']);
  });

  it('SIGTERM: not ready, still serving through the drain, 0 failed requests, exit 0 within the grace period', async () => {
    const a = replicas.a!;
    const loop = requestLoop(() => url);
    await eventually(
      () => ['a', 'b', 'c'].every((n) => served(loop.records, n) >= 3),
      10_000,
      'every replica to serve',
    );
    const term = Date.now();
    a.child.kill('SIGTERM');
    // Readiness is the first thing to go; the admin port still answers during the drain.
    const draining = await eventually(async () => {
      const r = await a.readyz();
      return r.status === 503 ? r : undefined;
    }, DRAIN_MS);
    expect(draining.body).toMatchObject({ ready: false, phase: 'draining' });
    const exit = await a.exited;
    await new Promise((r) => setTimeout(r, 300));
    const records = await loop.stop();

    expect(exit.code).toBe(0);
    expect(exit.at - term).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(exit.at - term).toBeLessThan(GRACE_MS);
    expect(records.filter((r) => !r.ok)).toEqual([]);
    // Connections it held were served through the drain, then moved to the other replicas.
    expect(served(records, 'a', term)).toBeGreaterThan(0);
    expect(served(records, 'b', exit.at) + served(records, 'c', exit.at)).toBeGreaterThan(0);
    expect(served(records, 'a', exit.at)).toBe(0);
    expect(a.stderr()).toMatch(/"message":"stopped".*"forced":false/);
  });

  it('SIGKILL: only requests in flight on it may fail; every request started 1 s later succeeds', async () => {
    const b = replicas.b!;
    const loop = requestLoop(() => url);
    await eventually(
      () => served(loop.records, 'b') >= 3 && served(loop.records, 'c') >= 3,
      10_000,
      'b and c to serve',
    );
    const kill = Date.now();
    b.child.kill('SIGKILL');
    await b.exited;
    await eventually(
      () => loop.records.some((r) => r.start >= kill + 2_000),
      10_000,
      'requests after the kill',
    );
    const records = await loop.stop();

    const later = records.filter((r) => r.start >= kill + 1_000);
    expect(later.length).toBeGreaterThan(10);
    expect(later.filter((r) => !r.ok)).toEqual([]);
    expect(new Set(later.map((r) => r.servedBy))).toEqual(new Set(['c']));
    // At most one failure per client connection: the request it had on the killed replica.
    const failed = records.filter((r) => !r.ok);
    expect(failed.length).toBeLessThanOrEqual(4);
    for (const f of failed) expect(f.start).toBeLessThan(kill + 1_000);
  });

  it('the router treats goodbye as the connection’s clean disconnect, before the socket closes', async () => {
    const clusterUrl = new URL(rt.wsUrl);
    clusterUrl.searchParams.set('cluster', 'west');
    const ws = new WebSocket(clusterUrl, { headers: { authorization: `Bearer ${rt.clusterTokens.west}` } });
    await new Promise((r, j) => ws.once('open', r).once('error', j));
    const west = async () => {
      const r = await api(rt, 'GET', '/v1/clusters');
      return (r.body.clusters as { id: string; connected: boolean }[]).find((c) => c.id === 'west')!;
    };
    try {
      ws.send(JSON.stringify({ v: 1, type: 'hello', services: ['api'] }));
      await eventually(async () => (await west()).connected, 5_000, 'west to connect');
      ws.send(JSON.stringify({ v: 1, type: 'goodbye', reason: 'shutdown' }));
      await eventually(async () => !(await west()).connected, 5_000, 'west to be disconnected');
      expect(ws.readyState).toBe(WebSocket.OPEN);
    } finally {
      ws.terminate();
    }
  });
});

describe('switchyard connector on SIGTERM, as the router sees it', () => {
  it('says goodbye as its last frame, closes the connection and exits 0', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-goodbye-'));
    // A stand-in router that records the frames (the real one is checked above).
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const frames: { type: string }[] = [];
    let closedAt = 0;
    wss.on('connection', (ws) => {
      ws.on('message', (m) => frames.push(JSON.parse(String(m))));
      ws.on('close', () => {
        closedAt = Date.now();
      });
    });
    const upstream = namedServer('up');
    let p: ConnectorProcess | undefined;
    try {
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, 'sy_cl_not-checked-by-this-stand-in');
      p = await startConnectorProcess({
        dir,
        name: 'leaving',
        router: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/ws`,
        cluster: 'east',
        tokenFile,
        upstream: `http://127.0.0.1:${await listen(upstream)}`,
        drainMs: 200,
        graceMs: 2_000,
      });
      await eventually(() => frames.some((f) => f.type === 'hello'), 10_000, 'hello');
      p.child.kill('SIGTERM');
      const exit = await p.exited;
      expect(exit.code).toBe(0);
      expect(frames.at(-1)).toEqual({ v: 1, type: 'goodbye', reason: 'shutdown' });
      await eventually(() => closedAt > 0, 2_000, 'the connection to close');
      expect(p.stderr()).not.toContain('sy_cl_not-checked');
    } finally {
      if (p) await killConnector(p);
      upstream.close();
      await new Promise((r) => wss.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
