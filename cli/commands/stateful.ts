import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Command } from 'commander';
import type { RouterApi } from '../router/api-client.ts';
import { SessionEnding } from '../session/ending.ts';
import { stderrProgress } from '../session/progress.ts';
import type { SessionConnection, SessionResource } from '../session/session-client.ts';
import { resolveBranches } from './branch.ts';
import { apiFrom, collect, parsePort, type RouterOpts, withRouterOptions } from './common.ts';

/**
 * The session client (WebSocket, protocol schemas, regex engine) is loaded by the commands that
 * open a session, not by `sessions`, which only lists them: a third of its start-up otherwise.
 */
const sessionClient = () => import('../session/session-client.ts');

interface SessionOpts extends RouterOpts {
  session?: string;
  branch?: string[];
  quiet?: boolean;
}

/**
 * Runs `work` inside a session: an existing one (`--session`), or a new one that is ended
 * afterwards whatever happens.
 */
async function withSession<T>(
  opts: SessionOpts,
  body: Record<string, unknown>,
  work: (conn: SessionConnection, s: SessionResource, api: RouterApi) => Promise<T>,
): Promise<T> {
  const { createSession, SessionConnection, waitReady } = await sessionClient();
  const api = apiFrom(opts);
  const progress = stderrProgress(opts.quiet);
  const branches = await resolveBranches(api, opts.branch, progress);
  // Someone else's session (`--session`) is left running: only a session this command created is ended.
  const ending = opts.session ? undefined : SessionEnding.onInterrupt(api, progress);
  const s = ending
    ? await createSession(
        api,
        { ...body, ...(Object.keys(branches).length ? { branches } : {}) },
        progress,
        ending,
      )
    : await waitReady(
        api,
        await api.call<SessionResource>('GET', `/v1/sessions/${opts.session}`),
        progress,
        60_000,
      );
  const conn = new SessionConnection(api.target.wsUrl, api.target.token, s.id);
  ending?.also(() => conn.stop());
  try {
    await conn.start();
    return await work(conn, s, api);
  } finally {
    conn.stop();
    await ending?.end().catch(() => {});
  }
}

interface ClusterQueues {
  clusters: { queues: { name?: string; env?: string }[] }[];
}

/**
 * The env a local process gets: the default cluster's env for the service (which already points
 * its database URLs at the session's branches), with the queue URLs of the session's splits
 * pointing at its output queues.
 */
async function sessionEnv(conn: SessionConnection, s: SessionResource, api: RouterApi, service: string) {
  const reply = await conn.request({ type: 'env.get', service });
  const env = { ...(reply.env as Record<string, string>) };
  if (s.outputQueues && Object.keys(s.outputQueues).length) {
    const { clusters } = await api.call<ClusterQueues>('GET', '/v1/clusters');
    for (const [queue, url] of Object.entries(s.outputQueues)) {
      for (const c of clusters) for (const q of c.queues) if (q.name === queue && q.env) env[q.env] = url;
    }
  }
  return env;
}

const sessionOptions = (cmd: Command) =>
  withRouterOptions(
    cmd
      .option(
        '--session <id>',
        'use this existing session (e.g. one with splits or branches) instead of a new one',
      )
      .option(
        '--branch <id>',
        'point the database env at this branch (waits until it is ready; repeatable)',
        collect,
      )
      .option('--quiet', 'no progress lines on stderr'),
  );

export function registerStateful(program: Command): void {
  sessionOptions(
    program
      .command('env')
      .description('print a service’s environment from the default cluster')
      .argument('<service>', 'the service')
      .option('--json', 'print JSON instead of NAME=value lines'),
  ).action(async (service: string, opts: SessionOpts & { json?: boolean }) => {
    const env = await withSession(opts, { service, label: `env ${service}` }, (conn, s, api) =>
      sessionEnv(conn, s, api, service),
    );
    if (opts.json) process.stdout.write(`${JSON.stringify(env, null, 2)}\n`);
    else for (const [k, v] of Object.entries(env).sort()) process.stdout.write(`${k}=${v}\n`);
  });

  sessionOptions(
    program
      .command('exec')
      .description('run a command with a service’s environment from the default cluster')
      .argument('<service>', 'the service')
      .argument(
        '<command...>',
        'the command and its arguments, after -- (switchyard exec api --branch b1 -- npm start)',
      ),
  ).action(async (service: string, rawCommand: string[], opts: SessionOpts) => {
    const command = rawCommand[0] === '--' ? rawCommand.slice(1) : rawCommand;
    if (command.length === 0)
      throw new Error('give the command to run after --, e.g. switchyard exec api -- npm start');
    const code = await withSession(opts, { service, label: `exec ${service}` }, async (conn, s, api) => {
      const env = await sessionEnv(conn, s, api, service);
      return new Promise<number>((resolve) => {
        const child = spawn(command[0]!, command.slice(1), {
          stdio: 'inherit',
          env: { ...process.env, ...env },
        });
        child.on('error', (err) => {
          process.stderr.write(`switchyard: cannot run ${command[0]}: ${err.message}\n`);
          resolve(127);
        });
        child.on('exit', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
      });
    });
    process.exitCode = code;
  });

  withRouterOptions(
    program
      .command('resolve')
      .description('resolve a host name with the default cluster’s DNS')
      .argument('<host>', 'host name')
      .option('--quiet', 'no progress lines on stderr'),
  ).action(async (host: string, opts: SessionOpts) => {
    const addresses = await withSession(opts, { label: `resolve ${host}` }, async (conn) => {
      const r = await conn.request({ type: 'dns.resolve', host });
      return r.addresses as string[];
    });
    for (const a of addresses) process.stdout.write(`${a}\n`);
  });

  withRouterOptions(
    program
      .command('connect')
      .description('tunnel local TCP connections to host:port through the default cluster')
      .argument('<target>', 'host:port as seen from the default cluster')
      .requiredOption('--local <port>', 'local port to listen on (127.0.0.1)')
      .option('--quiet', 'no progress lines on stderr'),
  ).action(async (target: string, opts: SessionOpts & { local: string }) => {
    const m = target.match(/^(.+):(\d{1,5})$/);
    if (!m) throw new Error(`target must be host:port, got '${target}'`);
    const host = m[1]!;
    const port = parsePort(m[2]!);
    const localPort = parsePort(opts.local, '--local');
    const api = apiFrom(opts);
    const progress = stderrProgress(opts.quiet);
    const ending = SessionEnding.onInterrupt(api, progress);
    const { createSession, SessionConnection } = await sessionClient();
    const s = await createSession(api, { label: `connect ${target}` }, progress, ending);
    const conn = new SessionConnection(api.target.wsUrl, api.target.token, s.id);
    ending.also(() => conn.stop());
    await conn.start();
    const sockets = new Map<string, import('node:net').Socket>();
    // A TCP stream cannot survive a gap: bytes sent while the router connection is down would be
    // lost, so open tunnels are closed and new local connections open new ones after the resume.
    const closeAll = (why: string) => {
      if (sockets.size === 0) return;
      progress.warn(`${why}: ${sockets.size} open connection(s) to ${target} closed`);
      for (const sock of sockets.values()) sock.destroy();
      sockets.clear();
    };
    conn.on('dropped', () => closeAll('router connection lost'));
    // The connector replica holding the tunnels went away: new connections go to the next one.
    conn.on('replica-gone', () => closeAll("the default cluster's connector replica went away"));
    conn.on('outgoing', (msg: { type: string; connId: string; data?: string; reason?: string }) => {
      const sock = sockets.get(msg.connId);
      if (!sock) return;
      if (msg.type === 'outgoing.data' && msg.data) sock.write(Buffer.from(msg.data, 'base64'));
      else if (msg.type === 'outgoing.close') {
        sockets.delete(msg.connId);
        if (msg.reason) progress.warn(`${target}: ${msg.reason}`);
        sock.end();
      }
    });
    const server = createServer((sock) => {
      const connId = `c${randomBytes(4).toString('hex')}`;
      sock.pause();
      conn
        .request({ type: 'outgoing.connect', connId, host, port })
        .then(() => {
          sockets.set(connId, sock);
          sock.on('data', (d) => conn.send({ type: 'outgoing.data', connId, data: d.toString('base64') }));
          sock.on('close', () => {
            if (sockets.delete(connId)) conn.send({ type: 'outgoing.close', connId });
          });
          sock.resume();
        })
        .catch((err) => {
          progress.warn(`${target}: ${(err as Error).message}`);
          sock.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(localPort, '127.0.0.1', () => resolve());
    });
    progress.info(`127.0.0.1:${localPort} → ${target} (through the default cluster); Ctrl-C to stop`);
    ending.also(() => {
      server.close();
    });
  });
}
