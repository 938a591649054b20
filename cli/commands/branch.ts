import { type Command, InvalidArgumentError, Option } from 'commander';
import { SwitchyardError } from '../../shared/errors/errors.ts';
import type { RouterApi } from '../router/api-client.ts';
import { type Progress, stderrProgress } from '../session/progress.ts';
import { apiFrom, type RouterOpts, withRouterOptions } from './common.ts';

interface BranchView {
  id: string;
  database: string;
  name: string;
  mode: string;
  phase: 'init' | 'pending' | 'ready' | 'failed' | 'deleting' | 'deleted';
  expireTime: string;
  progress?: { tablesDone?: number; tables?: number; rows?: number; message?: string; percent?: number };
  error?: { code: string; message: string };
}

/** `90s`, `30m`, `2h`, `1d` or plain seconds. */
export function parseDuration(value: string): number {
  const m = value.trim().match(/^(\d+)\s*(s|m|h|d)?$/);
  if (!m) throw new InvalidArgumentError(`a duration such as 90s, 30m, 2h or 1d, got '${value}'`);
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's'];
}

function describeProgress(b: BranchView): string {
  const p = b.progress;
  if (!p) return b.phase;
  const parts = [
    p.tables !== undefined ? `tables ${p.tablesDone ?? 0}/${p.tables}` : '',
    p.rows !== undefined ? `${p.rows} rows` : '',
    p.message ?? '',
  ].filter(Boolean);
  return `${b.phase}${parts.length ? ` (${parts.join(', ')})` : ''}`;
}

/** Polls a branch until it is ready (or failed), showing each change of phase or progress. */
export async function waitBranchReady(
  api: RouterApi,
  id: string,
  progress: Progress,
  timeoutMs = 10 * 60_000,
) {
  const deadline = Date.now() + timeoutMs;
  let shown = '';
  for (;;) {
    const b = await api.call<BranchView>('GET', `/v1/branches/${id}`);
    const line = describeProgress(b);
    if (line !== shown) {
      if (b.phase !== 'ready') progress.step(`branch ${id} of ${b.database}: ${line}`);
      shown = line;
    }
    if (b.phase === 'ready') return b;
    if (b.phase === 'failed' || b.phase === 'deleting' || b.phase === 'deleted') {
      throw new SwitchyardError(
        b.error?.code ?? 'branch_failed',
        `branch ${id} of ${b.database} ${b.phase}: ${b.error?.message ?? 'see the default cluster’s connector logs'}`,
        502,
      );
    }
    if (Date.now() > deadline) {
      throw new SwitchyardError(
        'timeout',
        `branch ${id} is still ${b.phase} after ${timeoutMs / 1000} s: is the default cluster's connector connected? (switchyard sessions / GET /v1/clusters)`,
        504,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** `--branch <id>` of intercept/exec/env: each branch's database, once every branch is ready. */
export async function resolveBranches(api: RouterApi, ids: string[] | undefined, progress: Progress) {
  const out: Record<string, string> = {};
  for (const id of ids ?? []) {
    const b = await waitBranchReady(api, id, progress);
    if (out[b.database]) throw new Error(`two branches of ${b.database} given: ${out[b.database]} and ${id}`);
    out[b.database] = id;
    progress.info(`branch ${id} of ${b.database} is ready (${b.name})`);
  }
  return out;
}

export function registerBranch(program: Command): void {
  const branch = program.command('branch').description('private copies of the default cluster’s databases');

  withRouterOptions(
    branch
      .command('create')
      .description('create (or reuse, by --id) a branch and wait until it is ready')
      .argument('<database>', 'logical database name, as the default cluster’s connector config declares it')
      .option(
        '--id <id>',
        'branch id (lowercase letters, digits, "-"); an existing live branch with it is reused',
      )
      .addOption(
        new Option('--ttl <duration>', 'how long it lives unused (90s, 30m, 2h, 1d)').argParser(
          parseDuration,
        ),
      )
      .option('--schema-only', 'copy the schema, not the rows')
      .option('--no-wait', 'return at once instead of waiting for it to be ready'),
  ).action(
    async (
      database: string,
      opts: RouterOpts & { id?: string; ttl?: number; schemaOnly?: boolean; wait: boolean },
    ) => {
      const api = apiFrom(opts);
      const progress = stderrProgress();
      const created = await api.call<BranchView>('POST', '/v1/branches', {
        database,
        ...(opts.id ? { id: opts.id } : {}),
        ...(opts.ttl ? { ttlSecs: opts.ttl } : {}),
        ...(opts.schemaOnly ? { mode: 'schema' } : {}),
      });
      const b = opts.wait ? await waitBranchReady(api, created.id, progress) : created;
      progress.info(`branch ${b.id} of ${b.database}: ${b.phase}`);
      process.stdout.write(
        [
          `id:       ${b.id}`,
          `database: ${b.name}`,
          `expires:  ${b.expireTime} (extended while a session uses it)`,
          `use it:   switchyard exec <service> --branch ${b.id} -- <your app>   (its database env points at the branch)`,
          '',
        ].join('\n'),
      );
    },
  );

  withRouterOptions(
    branch.command('list').description('your branches').option('--json', 'print JSON'),
  ).action(async (opts: RouterOpts & { json?: boolean }) => {
    const { branches } = await apiFrom(opts).call<{ branches: BranchView[] }>('GET', '/v1/branches');
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(branches, null, 2)}\n`);
      return;
    }
    if (branches.length === 0) process.stdout.write('no branches\n');
    for (const b of branches) {
      process.stdout.write(
        `${b.id.padEnd(20)} ${b.database.padEnd(16)} ${describeProgress(b).padEnd(24)} ${b.name}  expires ${b.expireTime}\n`,
      );
    }
  });

  withRouterOptions(
    branch.command('delete').description('drop a branch').argument('<id>', 'branch id'),
  ).action(async (id: string, opts: RouterOpts) => {
    const b = await apiFrom(opts).call<BranchView>('DELETE', `/v1/branches/${id}`);
    process.stdout.write(`branch ${b.id}: ${b.phase}\n`);
  });
}
