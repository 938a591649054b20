import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { RouterLinkStatus } from './router-link.ts';

export type Phase = 'starting' | 'serving' | 'draining' | 'stopping';

export interface ReadinessReport {
  phase: Phase;
  router: RouterLinkStatus;
}

/**
 * `/readyz`: ready while the connector serves its ingress and is not shutting down. The router
 * is only detail: a connector whose router is away still serves production (fail-open), so an
 * endpoint that took it out of rotation for that would take the service down with the router.
 */
export function readiness(report: ReadinessReport): { ready: boolean; body: Record<string, unknown> } {
  const ready = report.phase === 'serving';
  return {
    ready,
    body: {
      ready,
      phase: report.phase,
      router: report.router,
      // One line for a human reading `kubectl describe` or a probe log.
      detail: `${report.phase}; router: ${report.router.state}${report.router.state === 'connected' ? '' : ' (traffic passes through to the upstream)'}`,
    },
  };
}

/**
 * The admin port, apart from the ingress so a probe never queues behind production traffic and
 * the service never exposes it: `/healthz` (liveness: the process answers; a draining connector
 * is still alive), `/readyz` (readiness, with the detail) and `/metrics` (Prometheus). GET and
 * HEAD only.
 */
export class AdminServer {
  private server?: Server;

  constructor(
    private readonly report: () => ReadinessReport,
    /** Served at `/metrics` in Prometheus's text format. */
    private readonly metrics?: Registry,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
        res.end('method not allowed\n');
        return;
      }
      const send = (status: number, body: Record<string, unknown>) => {
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : `${JSON.stringify(body)}\n`);
      };
      if (path === '/healthz') return send(200, { status: 'ok' });
      if (path === '/readyz') {
        const r = readiness(this.report());
        return send(r.ready ? 200 : 503, r.body);
      }
      if (path === '/metrics' && this.metrics) {
        const registry = this.metrics;
        registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
            res.end(req.method === 'HEAD' ? undefined : text);
          },
          () => send(500, { error: 'metrics could not be collected' }),
        );
        return;
      }
      send(404, { error: `not found: try /healthz, /readyz${this.metrics ? ' or /metrics' : ''}` });
    });
    // Probes come every few seconds; a kept-alive probe connection must not hold the shutdown.
    server.keepAliveTimeout = 1_000;
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
