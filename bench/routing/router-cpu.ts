/**
 * The router alone: CPU ms per routed message in the `ws` function's code (relay, routing,
 * encoding, signing, the HTTP post to `@connections`), with nothing else in the process. The
 * `@connections` endpoint is a stub in a child process that answers 200 at once, so the
 * process's CPU time is the router's, and it is what a Lambda invocation bills besides its wait
 * for API Gateway. Each routed request is two messages: `request` (cluster -> client) and
 * `response` (client -> cluster), sent the way the gateway hands them over (one at a time).
 *
 *   npx tsx bench/routing/router-cpu.ts [--requests 3000] [--rounds 5]
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { Deps } from '../../functions/lib/deps.ts';
import { buildSessionDeps } from '../../functions/lib/session-deps.ts';
import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import { parseSettings } from '../../shared/config/settings.ts';
import { parseTopology } from '../../shared/config/topology.ts';
import { Relay } from '../../shared/relay/relay.ts';
import { createSession, onChildAnswer } from '../../shared/sessions/lifecycle.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { median } from './stats.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// Signing needs credentials; the stub checks nothing.
process.env.AWS_ACCESS_KEY_ID ??= 'bench';
process.env.AWS_SECRET_ACCESS_KEY ??= 'bench';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '3000' },
    rounds: { type: 'string', default: '5' },
  },
});

const STUB = `
  const http = require('node:http');
  const s = http.createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-length': '0' }).end()); });
  s.keepAliveTimeout = 60000;
  s.listen(0, '127.0.0.1', () => process.send(s.address().port));
`;
const stub = spawn(process.execPath, ['-e', STUB], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((r) => stub.once('message', (m) => r(Number(m))));

const topology = parseTopology({
  region: 'us-east-1',
  clusters: [{ id: 'c0', roles: ['primary', 'workload', 'default'] }],
});
const store = new MemoryStore();
const deps = {
  store,
  topology,
  settings: parseSettings({}),
  stage: 'local',
  region: 'us-east-1',
  credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
  wsManagementEndpoint: `http://127.0.0.1:${port}/local`,
  now: Date.now,
} as unknown as Deps;
const relay = new Relay(buildSessionDeps(deps).deps);

const developer = generateToken('developer');
const cluster = generateToken('cluster');
await registerToken(store, developer, { type: 'developer', id: 'bench' });
await registerToken(store, cluster, { type: 'cluster', clusterId: 'c0' });
await relay.connect({ connectionId: 'conn-c0', token: cluster, query: { cluster: 'c0' } });
const session = await createSession(relay.deps, 'developer:bench', { service: 'api' } as never);
await onChildAnswer(relay.deps, 'c0', { sessionId: session.id, ready: true });
const client = await relay.connect({
  connectionId: 'conn-cli',
  token: developer,
  query: { session: session.id },
});
if (!client.ok) throw new Error(`client refused: ${client.error.message}`);

const appBody = Buffer.from(JSON.stringify({ ok: true, pad: 'x'.repeat(100) })).toString('base64');
const headers = { host: '127.0.0.1', 'user-agent': 'bench', accept: '*/*', 'x-dev': 'bench' };
const frames = (i: number) => ({
  request: JSON.stringify({
    v: 1,
    type: 'request',
    sessionId: session.id,
    requestId: `r${i}`,
    subId: 'bench',
    mode: 'steal',
    method: 'GET',
    path: '/orders/42',
    headers,
  }),
  response: JSON.stringify({
    v: 1,
    type: 'response',
    requestId: `c0:r${i}`,
    status: 200,
    headers: { 'content-type': 'application/json', 'x-served-by': 'local-app' },
    body: appBody,
  }),
});

const cpuNow = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const run = async (n: number) => {
  const c0 = cpuNow();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const f = frames(i);
    await relay.message('conn-c0', f.request, { role: 'cluster', clusterId: 'c0' });
    await relay.message('conn-cli', f.response, {
      role: 'client',
      sessionId: session.id,
      owner: 'developer:bench',
    });
  }
  return { cpuPerMessage: (cpuNow() - c0) / (2 * n), wallPerMessage: (performance.now() - t0) / (2 * n) };
};

await run(300); // warm: JIT, sockets, credentials
const n = Number(args.requests);
const rounds = [];
for (let r = 0; r < Number(args.rounds); r++) rounds.push(await run(n));
const cpu = rounds.map((r) => r.cpuPerMessage);
const wall = rounds.map((r) => r.wallPerMessage);
console.log(
  JSON.stringify({
    cpuMsPerMessage: { median: median(cpu), min: Math.min(...cpu), max: Math.max(...cpu) },
    wallMsPerMessage: { median: median(wall), min: Math.min(...wall), max: Math.max(...wall) },
    messagesPerRound: 2 * n,
  }),
);
stub.kill();
process.exit(0);
