import { parseConnectorConfig } from '../../connector/config.ts';
import { Ingress } from '../../connector/ingress/ingress.ts';

/**
 * One service's ingress in a process of its own, with no session, so a test can read the
 * ingress's memory apart from its own. Config comes as JSON in argv[2]; over IPC it answers
 * `{type:'mark'}` with the RSS now (and restarts the peak from there) and `{type:'peak'}` with the
 * highest RSS seen since, sampled every 5 ms.
 */
const config = parseConnectorConfig(JSON.parse(process.argv[2] ?? '{}'));
const noSessions = { match: () => ({ mirrors: [] }), steal: async () => undefined, mirror: () => {} };
const ingress = new Ingress(config.services[0]!, noSessions, config.maxBodyBytes, () => {});
const port = await ingress.listen();

let peak = process.memoryUsage.rss();
setInterval(() => {
  peak = Math.max(peak, process.memoryUsage.rss());
}, 5).unref();

process.on('message', (m: { type: string }) => {
  const rss = process.memoryUsage.rss();
  if (m.type === 'mark') peak = rss;
  else peak = Math.max(peak, rss);
  process.send!({ type: m.type, rss, peak });
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', port });
