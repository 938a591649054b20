import pg from 'pg';
import type { BranchSpec } from '../../../shared/branches/schemas.ts';
import {
  assertBranchName,
  type BranchEngine,
  type BranchMarker,
  type BranchSource,
  type BranchState,
  type CreateOutcome,
  type ProgressFn,
  parseMarker,
  throwIfAborted,
} from '../engine.ts';
import { BranchAbortedError } from '../errors.ts';
import { branchUrl, type ParsedDatabaseUrl, parseDatabaseUrl } from '../url.ts';
import { readCatalog } from './catalog.ts';
import { pipeCopy } from './copy.ts';
import { createDatabaseSql, planBranch, type Statement } from './ddl.ts';
import { pgConnectError, pgStepError } from './errors.ts';

const { Client, escapeIdentifier, escapeLiteral } = pg;

/** Errors that mean "something this statement needs is not there yet": retried after the others. */
const NOT_YET = new Set(['42P01', '42704', '42883', '3F000']);

export interface PostgresEngineOptions {
  connectTimeoutMs?: number;
  /** How long the copy waits for a lock another transaction holds on the source (e.g. an ALTER TABLE). */
  lockTimeoutMs?: number;
}

/**
 * Postgres branches: a new database on the source's server with a copy of its schema and rows.
 *
 * `CREATE DATABASE ... TEMPLATE <source>` would be one statement, but it needs the source to have
 * no other connection, which a running application never allows. So the branch is rebuilt from
 * the catalog (see catalog.ts, ddl.ts) and the rows streamed with COPY, all read inside one
 * REPEATABLE READ transaction: the branch is the source as of one instant, whatever is written
 * to the source meanwhile, and the copy takes no lock that blocks the application's writes.
 */
export class PostgresBranchEngine implements BranchEngine {
  readonly type = 'postgres' as const;
  private readonly connectTimeoutMs: number;
  private readonly lockTimeoutMs: number;

  constructor(opts: PostgresEngineOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 30_000;
  }

  branchUrl(sourceUrl: string, name: string): string {
    return branchUrl(sourceUrl, name);
  }

  private async connect(
    url: string,
    label: string,
    parsed: ParsedDatabaseUrl,
    database?: string,
  ): Promise<pg.Client> {
    const client = new Client({
      connectionString: url,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: 'switchyard-branch',
      ...(database ? { database } : {}),
    });
    // A dropped server connection surfaces on the failing query; do not crash on the event too.
    client.on('error', () => {});
    try {
      await client.connect();
    } catch (err) {
      await client.end().catch(() => {});
      throw pgConnectError(err, { label, where: parsed.where, database: database ?? parsed.database });
    }
    return client;
  }

  /** A session for CREATE/DROP DATABASE: the source database, or `postgres` when the source is gone. */
  private async admin(
    source: BranchSource,
    parsed: ParsedDatabaseUrl,
    allowFallback: boolean,
  ): Promise<pg.Client> {
    try {
      return await this.connect(source.url, source.label, parsed);
    } catch (err) {
      if (!allowFallback || (err as { code?: string }).code !== 'source_not_found') throw err;
      return this.connect(source.url, source.label, parsed, 'postgres');
    }
  }

  async exists(source: BranchSource, name: string): Promise<BranchState> {
    const parsed = parseDatabaseUrl(source.url, 'postgres', source.label);
    assertBranchName(name, parsed.database);
    const admin = await this.admin(source, parsed, true);
    try {
      return await stateOf(admin, name);
    } finally {
      await admin.end().catch(() => {});
    }
  }

  async drop(source: BranchSource, name: string): Promise<'dropped' | 'absent'> {
    const parsed = parseDatabaseUrl(source.url, 'postgres', source.label);
    assertBranchName(name, parsed.database);
    const admin = await this.admin(source, parsed, true);
    try {
      if ((await stateOf(admin, name)).state === 'absent') return 'absent';
      await dropDatabase(admin, name);
      return 'dropped';
    } finally {
      await admin.end().catch(() => {});
    }
  }

  async create(
    spec: BranchSpec,
    source: BranchSource,
    onProgress: ProgressFn,
    signal?: AbortSignal,
  ): Promise<CreateOutcome> {
    const started = Date.now();
    const parsed = parseDatabaseUrl(source.url, 'postgres', source.label);
    assertBranchName(spec.name, parsed.database);
    const name = spec.name;
    const aborted = () => new BranchAbortedError(name);
    const clients: pg.Client[] = [];
    try {
      const admin = await this.connect(source.url, source.label, parsed);
      clients.push(admin);
      const state = await stateOf(admin, name);
      if (state.state === 'complete' && state.id === spec.id && state.generation === spec.generation) {
        onProgress({ message: 'the branch already exists', percent: 100 });
        return { result: 'existing', tables: 0, rows: 0, ms: Date.now() - started };
      }
      if (state.state !== 'absent') {
        onProgress({ message: 'dropping an unfinished or outdated copy', percent: 0 });
        await dropDatabase(admin, name);
      }

      // The snapshot: the catalog and every table are read in this one transaction.
      const src = await this.connect(source.url, source.label, parsed);
      clients.push(src);
      await src.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await src.query('SET LOCAL search_path = pg_catalog');
      await src.query(`SET LOCAL lock_timeout = ${Number(this.lockTimeoutMs)}`);
      onProgress({ message: 'reading the source schema', percent: 1 });
      const catalog = await readCatalog(src).catch((err) => {
        throw pgStepError(err, `reading the schema of '${parsed.database}'`);
      });
      const plan = planBranch(catalog, { withData: spec.mode === 'all' });
      const tablesTotal = plan.copies.length;
      throwIfAborted(signal, aborted);

      await admin.query(createDatabaseSql(name, catalog.database)).catch((err) => {
        throw pgStepError(err, `creating database '${name}' on ${parsed.where}`);
      });
      await setMarker(admin, name, marker(spec, parsed.database, 'creating'));
      const br = await this.connect(branchUrl(source.url, name), source.label, parsed, name);
      clients.push(br);
      await br.query('SET search_path = pg_catalog');
      // Function bodies may refer to tables that do not exist yet; pg_dump does the same.
      await br.query('SET check_function_bodies = false');
      await br.query('SET client_min_messages = warning');

      onProgress({
        message: `creating ${plan.preData.length} schema objects`,
        percent: 3,
        tablesDone: 0,
        tablesTotal,
      });
      await runStatements(br, plan.preData, name, signal);

      const weight = (i: number) => Math.max(1, plan.copies[i]?.rowEstimate ?? 0);
      const totalWeight = plan.copies.reduce((sum, _c, i) => sum + weight(i), 0);
      let doneWeight = 0;
      let rows = 0;
      for (const [i, c] of plan.copies.entries()) {
        throwIfAborted(signal, aborted);
        rows += await pipeCopy(src, br, c.out, c.in).catch((err) => {
          throw pgStepError(err, `copying table ${c.label}`);
        });
        doneWeight += weight(i);
        onProgress({
          message: `copied table ${c.label}`,
          percent: Math.round(5 + (85 * doneWeight) / totalWeight),
          tablesDone: i + 1,
          tablesTotal,
          rowsCopied: rows,
        });
      }

      // Sequences are not transactional: their current value is at least the snapshot's, so the
      // branch never hands out an id its rows already hold.
      for (const s of plan.sequences) {
        const { rows: found } = await src.query(`SELECT last_value::text AS v, is_called FROM ${s.name}`);
        const row = found[0] as { v: string; is_called: boolean } | undefined;
        if (!row) continue;
        await br
          .query('SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)', [s.name, row.v, row.is_called])
          .catch((err) => {
            throw pgStepError(err, `setting sequence ${s.label}`);
          });
      }
      await src.query('COMMIT');

      throwIfAborted(signal, aborted);
      onProgress({
        message: 'creating constraints, indexes, views and triggers',
        percent: 92,
        tablesDone: tablesTotal,
        tablesTotal,
        rowsCopied: rows,
      });
      await runStatements(br, plan.postData, name, signal);
      await setMarker(admin, name, marker(spec, parsed.database, 'complete'));
      onProgress({ message: 'ready', percent: 100, tablesDone: tablesTotal, tablesTotal, rowsCopied: rows });
      return { result: 'created', tables: tablesTotal, rows, ms: Date.now() - started };
    } finally {
      await Promise.all(clients.map((c) => c.end().catch(() => {})));
    }
  }
}

function marker(spec: BranchSpec, source: string, state: BranchMarker['state']): BranchMarker {
  return {
    switchyard: 'branch',
    id: spec.id,
    generation: spec.generation,
    source,
    state,
    at: new Date().toISOString(),
  };
}

async function setMarker(admin: pg.Client, name: string, m: BranchMarker): Promise<void> {
  // COMMENT takes no parameters; the literal is escaped. A comment, unlike a marker table, is
  // invisible to the application's queries and migrations.
  await admin
    .query(`COMMENT ON DATABASE ${escapeIdentifier(name)} IS ${escapeLiteral(JSON.stringify(m))}`)
    .catch((err) => {
      throw pgStepError(err, `marking database '${name}'`);
    });
}

async function stateOf(admin: pg.Client, name: string): Promise<BranchState> {
  const { rows } = await admin
    .query(
      `SELECT shobj_description(d.oid, 'pg_database') AS comment FROM pg_database d WHERE d.datname = $1`,
      [name],
    )
    .catch((err) => {
      throw pgStepError(err, `looking for database '${name}'`);
    });
  if (rows.length === 0) return { state: 'absent' };
  const m = parseMarker((rows[0] as { comment: string | null }).comment);
  if (m?.state !== 'complete') return { state: 'incomplete' };
  return { state: 'complete', id: m.id, ...(m.generation ? { generation: m.generation } : {}) };
}

async function dropDatabase(admin: pg.Client, name: string): Promise<void> {
  const step = `dropping database '${name}'`;
  try {
    const { rows } = await admin.query('SHOW server_version_num');
    const version = Number((rows[0] as { server_version_num: string }).server_version_num);
    if (version >= 130000) {
      // FORCE ends the sessions of applications still connected to the branch.
      await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`);
    } else {
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [name],
      );
      await admin.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)}`);
    }
  } catch (err) {
    throw pgStepError(err, step);
  }
}

/**
 * Runs statements in order. One that fails because something it needs does not exist yet (a
 * function over a table's row type, a view over a later view) is retried after the others, until
 * a round makes no progress.
 */
async function runStatements(
  client: pg.Client,
  statements: Statement[],
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  let pending = statements;
  while (pending.length > 0) {
    const retry: { s: Statement; err: unknown }[] = [];
    for (const s of pending) {
      throwIfAborted(signal, () => new BranchAbortedError(name));
      try {
        await client.query(s.sql);
      } catch (err) {
        if (!NOT_YET.has((err as { code?: string }).code ?? ''))
          throw pgStepError(err, `creating ${s.label} in '${name}'`);
        retry.push({ s, err });
      }
    }
    if (retry.length === pending.length) {
      throw pgStepError(retry[0]!.err, `creating ${retry[0]!.s.label} in '${name}'`);
    }
    pending = retry.map((r) => r.s);
  }
}
