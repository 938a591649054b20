/**
 * The routed path alone, for profiling and for CPU per request: one cluster, one intercept,
 * a warm-up, then N sequential routed requests and N direct ones, each with the process's CPU
 * time around it. `--profile FILE` writes a V8 CPU profile (as `--cpu-prof` does) of the routed
 * phase alone, start-up and warm-up left out.
 *
 *   npx tsx bench/routing/profile.ts [--requests 2000] [--warmup 300] [--in-flight 1] [--profile FILE]
 */
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Session } from 'node:inspector/promises';
import { parseArgs } from 'node:util';
import { closeClient, concurrent, sequential, type Target } from './http-load.ts';
import { startIntercept } from './intercept.ts';
import { listen, startWorld } from './world.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '300' },
    'in-flight': { type: 'string', default: '1' },
    /** Write a V8 CPU profile of the routed phase alone (start-up and warm-up left out). */
    profile: { type: 'string' },
  },
});
const n = Number(args.requests);
const inFlight = Number(args['in-flight']);

const body = JSON.stringify({ ok: true, pad: 'x'.repeat(100) });
const app = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-served-by', 'local-app');
  res.end(body);
});
const appPort = await listen(app);
const world = await startWorld({ clusters: 1, readyDelayMs: 0 });
const intercept = await startIntercept(world.runtime, appPort);
const direct: Target = {
  name: 'direct',
  url: `http://127.0.0.1:${appPort}/orders/42`,
  headers: {},
  servedBy: 'local-app',
};
const routed: Target = {
  name: 'routed',
  url: `${world.ingressUrl}/orders/42`,
  headers: { 'x-dev': 'bench' },
  servedBy: 'local-app',
};
await sequential(routed, Number(args.warmup), 60_000);
await sequential(direct, Number(args.warmup), 60_000);

const perRequest = async (t: Target) => {
  const s = inFlight > 1 ? await concurrent(t, inFlight, (n / 100) * 1000) : await sequential(t, n, 600_000);
  const count = s.ms.length + s.failed;
  return { count, failed: s.failed, cpuMs: s.cpuMs / count, wallMs: s.wallMs / count };
};
const inspector = args.profile ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post('Profiler.enable');
  await inspector.post('Profiler.setSamplingInterval', { interval: 200 });
  await inspector.post('Profiler.start');
}
const r = await perRequest(routed);
if (inspector) {
  const { profile } = await inspector.post('Profiler.stop');
  writeFileSync(args.profile!, JSON.stringify(profile));
  inspector.disconnect();
}
const d = await perRequest(direct);
console.log(
  JSON.stringify({
    routed: r,
    direct: d,
    addedCpuMs: r.cpuMs - d.cpuMs,
  }),
);
await intercept.stop();
await world.stop();
closeClient();
app.close();
process.exit(0);
