import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { parseConnectorConfig, type ServiceConfig } from '../../connector/config.ts';
import { Ingress } from '../../connector/ingress/ingress.ts';
import type { TrafficRouter } from '../../connector/ingress/types.ts';
import { FakeTrafficRouter } from './fake-traffic-router.ts';

export async function listen(server: NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return (server.address() as AddressInfo).port;
}

export async function upstreamServer(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  const port = await listen(server);
  return { server, url: `http://127.0.0.1:${port}` };
}

export interface TestIngress {
  ingress: Ingress;
  router: FakeTrafficRouter;
  url: string;
  port: number;
}

/** One `api` service's ingress in front of `upstream`, with an in-memory subscription table. */
export async function startIngress(
  upstream: string,
  service: Partial<ServiceConfig> = {},
  maxBodyBytes = 64 * 1024,
  router: TrafficRouter = new FakeTrafficRouter(),
): Promise<TestIngress> {
  const config = parseConnectorConfig({
    services: [{ name: 'api', ingress: { port: 0, host: '127.0.0.1' }, upstream, ...service }],
    maxBodyBytes,
  });
  const ingress = new Ingress(config.services[0]!, router, maxBodyBytes, () => {});
  const port = await ingress.listen();
  return { ingress, router: router as FakeTrafficRouter, url: `http://127.0.0.1:${port}`, port };
}
