import { parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';

/**
 * The real connector fronting the service, in a process of its own (so its CPU and memory are
 * its own), with `sessions` live sessions whose subscriptions match none of the benchmark's
 * requests. They arrive as the router would send them (`child.create` with subscriptions);
 * no router runs, so the connector keeps retrying its connection in the background.
 */
const [upstream, sessionsArg] = process.argv.slice(2);
const sessions = Number(sessionsArg ?? 0);
const config = parseConnectorConfig({
  services: [{ name: 'api', ingress: { port: 0, host: '127.0.0.1' }, upstream }],
});
const connector = new Connector({
  router: 'ws://127.0.0.1:9/ws',
  cluster: 'bench',
  token: 'bench',
  config,
  log: () => {},
});
await connector.start();
for (let i = 0; i < sessions; i++) {
  // Half filter on a header, half on a path: the two shapes developers use.
  const filter = i % 2 ? { headers: { 'x-dev': `^dev-${i}$` } } : { path: `^/dev-${i}/` };
  connector.peer.emit('message', {
    v: 1,
    type: 'child.create',
    sessionId: `session-${i}`,
    childId: `child-${i}`,
    spec: {
      service: 'api',
      roles: ['workload'],
      subscriptions: [{ subId: 'sub', service: 'api', mode: i % 3 ? 'steal' : 'mirror', filter }],
    },
  });
}
const probe = connector.match('api', { method: 'GET', path: '/orders/42', headers: {} });
process.send!({
  port: connector.ports.api,
  matchedByBenchRequest: probe.steal !== undefined || probe.mirrors.length > 0,
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
