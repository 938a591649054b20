import { randomBytes } from 'node:crypto';
import { type Command, Option } from 'commander';
import { SessionEnding } from '../session/ending.ts';
import { LocalAnswers, type Req, type StreamFrame } from '../session/local-answer.ts';
import { watchLocalApp } from '../session/local-app-watch.ts';
import { stderrProgress } from '../session/progress.ts';
import { createSession, heartbeatEvery, SessionConnection } from '../session/session-client.ts';
import { resolveBranches } from './branch.ts';
import { apiFrom, collect, parsePairs, parsePort, type RouterOpts, withRouterOptions } from './common.ts';
import { type Listed, otherStealers } from './sessions.ts';

interface InterceptOpts extends RouterOpts {
  to: string;
  header?: string[];
  path?: string;
  method?: string;
  mirror?: boolean;
  allowPartial?: boolean;
  split?: string;
  splitFilter?: string[];
  splitMirror?: boolean;
  branch?: string[];
  readyTimeout: string;
}

export type { Req };

/**
 * Answers the session's requests from the local app on `port`, streaming both ways; the
 * cluster's `data`/`close` for a request reach the local request they belong to.
 */
export function answerLocally(conn: SessionConnection, port: number): LocalAnswers {
  const answers = new LocalAnswers(conn, port);
  conn.on('request-stream', (f: StreamFrame) => answers.onStream(f));
  return answers;
}

const answerersOf = new WeakMap<SessionConnection, LocalAnswers>();

/**
 * Forwards one request to the local app (one answerer per connection, so the request's streamed
 * body finds it). Resolves with the app's status, or undefined when the app is not there.
 */
export function answerRequest(conn: SessionConnection, port: number, r: Req): Promise<number | undefined> {
  let answers = answerersOf.get(conn);
  if (!answers) {
    answers = answerLocally(conn, port);
    answerersOf.set(conn, answers);
  }
  return answers.answer(r);
}

export function registerIntercept(program: Command): void {
  withRouterOptions(
    program
      .command('intercept')
      .description('get a service’s traffic from every workload cluster on a local port')
      .argument('<service>', 'the service to intercept')
      .requiredOption('--to <port>', 'local port your app listens on')
      .option(
        '--header <name=regex>',
        'only requests whose header matches (repeatable; all must match)',
        collect,
      )
      .option('--path <regex>', 'only requests whose path (with query) matches')
      .option('--method <method>', 'only requests with this HTTP method')
      .option('--mirror', 'get a copy of each request; the cluster’s own service still answers')
      .option('--allow-partial', 'go on when some workload clusters are not connected')
      .option('--branch <id>', 'use this database branch (waits until it is ready; repeatable)', collect)
      .option('--split <queue>', 'also split this queue into the session (see `switchyard split`)')
      .option(
        '--split-filter <attribute=regex>',
        'the split’s message attribute filter (repeatable; all must match)',
        collect,
      )
      .option('--split-mirror', 'copy the split’s messages instead of taking them')
      .addOption(new Option('--ready-timeout <seconds>', 'how long to wait for every cluster').default('60')),
  ).action(async (service: string, opts: InterceptOpts) => {
    const port = parsePort(opts.to, '--to');
    const headers = parsePairs(opts.header, '--header');
    const filter = {
      ...(Object.keys(headers).length ? { headers } : {}),
      ...(opts.path ? { path: opts.path } : {}),
      ...(opts.method ? { method: opts.method.toUpperCase() } : {}),
    };
    const mode = opts.mirror ? 'mirror' : 'steal';
    const progress = stderrProgress();
    const api = apiFrom(opts);
    watchLocalApp(port, progress);
    if (opts.split && !opts.splitFilter?.length)
      throw new Error('--split needs at least one --split-filter attribute=regex');
    const splits = opts.split
      ? [
          {
            queue: opts.split,
            mode: opts.splitMirror ? 'mirror' : 'steal',
            filter: parsePairs(opts.splitFilter, '--split-filter'),
          },
        ]
      : undefined;
    const branches = await resolveBranches(api, opts.branch, progress);
    const ending = SessionEnding.onInterrupt(api, progress);
    const session = await createSession(
      api,
      {
        service,
        label: `intercept ${service}`,
        ...(opts.allowPartial ? { allowPartial: true } : {}),
        ...(splits ? { splits } : {}),
        ...(Object.keys(branches).length ? { branches } : {}),
      },
      progress,
      ending,
      Number(opts.readyTimeout) * 1000,
    );
    const conn = new SessionConnection(api.target.wsUrl, api.target.token, session.id, {
      heartbeatMs: heartbeatEvery(session),
    });
    ending.also(() => conn.stop());
    const subId = `sub-${randomBytes(3).toString('hex')}`;
    const subscribe = async () => {
      const answer = await conn.subscribe({ subId, service, mode, filter });
      const clusters = (answer.clusters as string[] | undefined) ?? [];
      const failed = (answer.failed as { cluster: string; message: string }[] | undefined) ?? [];
      progress.info(
        `${mode === 'steal' ? 'stealing' : 'mirroring'} ${service} from ${clusters.join(', ') || 'no cluster'} → 127.0.0.1:${port}`,
      );
      for (const f of failed) progress.warn(`${f.cluster}: ${f.message}`);
    };
    conn.on('connected', (again: boolean) => {
      if (again) {
        progress.info(`reconnected: session ${session.id} resumed`);
        subscribe().catch((err) => progress.warn(`re-subscribe failed: ${(err as Error).message}`));
      }
    });
    conn.on('dropped', (d: { why: string; retryInMs: number }) =>
      progress.warn(`router connection lost (${d.why}); retrying in ${d.retryInMs} ms`),
    );
    conn.on('gone', (r: { message: string }) => {
      process.stderr.write(`switchyard: session ${session.id} is gone: ${r.message}\n`);
      process.exit(3);
    });
    conn.on(
      'status',
      (s: { state: string; clusters: Record<string, { state: string; error?: { message: string } }> }) => {
        if (s.state === 'closed') {
          process.stderr.write(`switchyard: session ${session.id} was closed by the router\n`);
          process.exit(3);
        }
        for (const [id, c] of Object.entries(s.clusters)) {
          if (c.state !== 'ready')
            progress.warn(`${id}: ${c.state}${c.error ? ` (${c.error.message})` : ''}`);
        }
      },
    );
    conn.on('router-error', (e: { code?: string; message?: string; cluster?: string }) => {
      // A request this session would have stolen, served by the cluster instead: say which and why.
      if (e.code === 'request_too_large')
        process.stdout.write(`${e.cluster ?? '?'} missed: ${e.message ?? 'a request too large to steal'}\n`);
      else progress.warn(`${e.cluster ? `${e.cluster}: ` : ''}${e.message ?? e.code ?? 'router error'}`);
    });
    const answers = answerLocally(conn, port);
    conn.on('request', async (r: Req) => {
      const status = await answers.answer(r);
      const upgraded = r.upgrade && status === 101 ? ` (${r.headers.upgrade ?? 'upgraded'}, open)` : '';
      process.stdout.write(
        `${r.cluster ?? '?'} ${r.method} ${r.path} → ${status ?? 'local app unreachable, served by the cluster'}${upgraded}\n`,
      );
    });
    // A stolen WebSocket (or other upgrade) stays open after its 101: say when it ends.
    answers.upgrades.onClosed = ({ request: r, how }) =>
      process.stdout.write(`${r.cluster ?? '?'} ${r.method} ${r.path} ${how}\n`);
    await conn.start();
    await subscribe();
    for (const [queue, url] of Object.entries(session.outputQueues ?? {})) {
      progress.info(`split ${queue}: matching messages from every cluster arrive on ${url}`);
    }
    if (mode === 'steal') await warnOtherStealers(api, session.id, service, progress);
    progress.info(`session ${session.id}: Ctrl-C to end it`);
  });
}

/** Says which other live sessions of yours steal the same service (best effort: a failed list says nothing). */
async function warnOtherStealers(
  api: ReturnType<typeof apiFrom>,
  sessionId: string,
  service: string,
  progress: ReturnType<typeof stderrProgress>,
): Promise<void> {
  try {
    const { sessions } = await api.call<{ sessions: Listed[] }>('GET', '/v1/sessions?state=live');
    for (const line of otherStealers(sessions, sessionId, service)) progress.warn(line);
  } catch {}
}
