import type { Command } from 'commander';
import type { SessionResource } from '../session/session-client.ts';
import { apiFrom, type RouterOpts, withRouterOptions } from './common.ts';

export type Listed = SessionResource & {
  createdAt: string;
  label?: string;
  subscriptions?: { service: string; mode: string }[];
  clientConnected?: boolean;
};

/** `5s`, `12m`, `3h20m`, `2d4h`: how long ago, as a person reads it. */
export function age(fromIso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(fromIso)) / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${m % 60 ? `${m % 60}m` : ''}`;
  return `${Math.floor(h / 24)}d${h % 24 ? `${h % 24}h` : ''}`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What a session holds, one short phrase per kind: queues, subscriptions, branches, clusters. */
export function holdings(s: Listed): string {
  const parts: string[] = [];
  const queues = Object.keys(s.outputQueues ?? {});
  if (queues.length) parts.push(`${queues.length === 1 ? 'queue' : 'queues'} ${queues.join(', ')}`);
  const subs = s.subscriptions ?? [];
  if (subs.length)
    parts.push(
      `${plural(subs.length, 'subscription')} (${subs.map((x) => `${x.mode} ${x.service}`).join(', ')})`,
    );
  const branches = Object.entries(s.branches ?? {});
  if (branches.length) parts.push(`branches ${branches.map(([db, id]) => `${db}=${id}`).join(', ')}`);
  parts.push(
    Object.entries(s.clusters)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, c]) => `${id}:${c.state}`)
      .join(' '),
  );
  return parts.join(' · ');
}

/**
 * Other live sessions of the developer that steal the same service, one warning each: a request
 * both match goes to one of them, and one whose CLI is gone (cut without ending) sends its share
 * to the deployed service until it expires.
 */
export function otherStealers(list: Listed[], mine: string, service: string, now = Date.now()): string[] {
  return list
    .filter(
      (s) =>
        s.id !== mine &&
        (s.state === 'pending' || s.state === 'ready') &&
        (s.subscriptions ?? []).some((x) => x.service === service && x.mode === 'steal'),
    )
    .map(
      (s) =>
        `session ${s.id} (${age(s.createdAt, now)} old${s.clientConnected === false ? ', no CLI connected' : ''}) also steals ${service}: a request both match goes to one of them. \`switchyard sessions end ${s.id}\` ends it`,
    );
}

export function registerSessions(program: Command): void {
  const sessions = program.command('sessions').description('your sessions: list them, end a stray one');

  withRouterOptions(
    sessions
      .command('list', { isDefault: true })
      .description('list your sessions with their age and what each holds (the default)')
      .option('--all', 'include closed sessions')
      .option('--json', 'print JSON'),
  ).action(async (opts: RouterOpts & { all?: boolean; json?: boolean }) => {
    const api = apiFrom(opts);
    const { sessions: list } = await api.call<{ sessions: Listed[] }>(
      'GET',
      `/v1/sessions${opts.all ? '' : '?state=live'}`,
    );
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(list, null, 2)}\n`);
      return;
    }
    if (list.length === 0) {
      process.stdout.write(opts.all ? 'no sessions\n' : 'no live sessions (--all shows closed ones)\n');
      return;
    }
    for (const s of list) {
      const what = s.label ?? s.service ?? '';
      const why = s.state === 'closed' && s.closedReason ? ` (${s.closedReason})` : '';
      process.stdout.write(
        `${s.id}  ${s.state.padEnd(7)}  ${age(s.createdAt).padStart(6)}  ${what}${why}  ${holdings(s)}\n`,
      );
    }
    if (!opts.all && list.length)
      process.stdout.write('end a stray one with `switchyard sessions end <id>`\n');
  });

  withRouterOptions(
    sessions
      .command('end')
      .description(
        'end one of your sessions: its clusters drop it, its splits drain back, its connection closes',
      )
      .argument('<id>', 'the session id (from `switchyard sessions`)'),
  ).action(async (id: string, opts: RouterOpts) => {
    if (!/^[a-z0-9]{1,40}$/.test(id))
      throw new Error(`'${id}' is not a session id (see \`switchyard sessions\`)`);
    const api = apiFrom(opts);
    // Someone else's session answers 404 like one that does not exist: nobody learns which ids are taken.
    const s = await api.call<Listed>('DELETE', `/v1/sessions/${id}`);
    const before =
      s.closedReason && s.closedReason !== 'deleted by its owner' ? ` (it had ended: ${s.closedReason})` : '';
    process.stdout.write(`session ${s.id} ended${before}\n`);
    const queues = Object.keys(s.outputQueues ?? {});
    if (queues.length)
      process.stdout.write(
        `what is left in its output ${queues.length === 1 ? 'queue' : 'queues'} (${queues.join(', ')}) goes back to the cluster each message came from\n`,
      );
  });
}
