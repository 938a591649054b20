import type { Readable } from 'node:stream';
import mysql from 'mysql2/promise';
import type { BranchSpec } from '../../../shared/branches/schemas.ts';
import {
  assertBranchName,
  type BranchEngine,
  type BranchSource,
  type BranchState,
  type CreateOutcome,
  type ProgressFn,
  throwIfAborted,
} from '../engine.ts';
import { BranchAbortedError, BranchCopyError, BranchPermissionError } from '../errors.ts';
import { branchUrl, type ParsedDatabaseUrl, parseDatabaseUrl } from '../url.ts';
import { mysqlConnectError, mysqlStepError } from './errors.ts';

type Conn = mysql.Connection;
type Row = Record<string, unknown>;

/** The completion marker: a one-row table written last (MySQL has no database comments). */
export const MARKER_TABLE = '_switchyard_branch';

/** `name` as a MySQL identifier: backquoted, inner backquotes doubled. */
export const qid = (name: string): string => `\`${name.replaceAll('`', '``')}\``;

/** Column types whose values must travel as bytes (everything else travels as its text form). */
const BINARY_TYPES = new Set([
  'binary',
  'varbinary',
  'tinyblob',
  'blob',
  'mediumblob',
  'longblob',
  'bit',
  'geometry',
  'point',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
]);
/** Generated columns take no values (MySQL's DEFAULT_GENERATED is an ordinary default, not one of these). */
const GENERATED = /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i;
const BATCH_ROWS = 2000;
const BATCH_BYTES = 1024 * 1024;
/**
 * mysqldump's settings for the branch's session: keep explicit zero ids and accept the source's
 * rows as they are. mysql2 escapes with backslashes, so NO_BACKSLASH_ESCAPES must stay off.
 */
const WRITER_SQL_MODE = 'NO_AUTO_VALUE_ON_ZERO,NO_ENGINE_SUBSTITUTION';

/**
 * Views and triggers carry their creator as DEFINER; recreating them under another user needs
 * SUPER, so the clause is dropped and the branch's objects belong to the connector's user.
 */
export function stripDefiner(sql: string): string {
  const part = "(?:`(?:[^`]|``)*`|'(?:[^']|'')*'|[^\\s@`']+)";
  return sql.replace(new RegExp(`\\s+DEFINER\\s*=\\s*${part}@${part}`, 'i'), '');
}

export interface MysqlEngineOptions {
  connectTimeoutMs?: number;
  /** How long DDL and drops wait for another session's metadata lock. */
  lockTimeoutSecs?: number;
}

/**
 * MySQL / MariaDB branches: a new database on the source's server, tables from SHOW CREATE TABLE,
 * rows read inside one `START TRANSACTION WITH CONSISTENT SNAPSHOT`.
 *
 * The rows go through the connector rather than `INSERT INTO branch.t SELECT * FROM source.t`:
 * under REPEATABLE READ, InnoDB runs the SELECT of an INSERT ... SELECT as a locking read, which
 * waits behind every open transaction that wrote the source and reads the latest rows rather than
 * the snapshot. A plain SELECT in the snapshot takes no row lock, and one snapshot serves every
 * table, so the branch is the source as of one instant.
 */
export class MysqlBranchEngine implements BranchEngine {
  readonly type = 'mysql' as const;
  private readonly connectTimeoutMs: number;
  private readonly lockTimeoutSecs: number;

  constructor(opts: MysqlEngineOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.lockTimeoutSecs = opts.lockTimeoutSecs ?? 30;
  }

  branchUrl(sourceUrl: string, name: string): string {
    return branchUrl(sourceUrl, name);
  }

  private async connect(source: BranchSource, parsed: ParsedDatabaseUrl, database: string): Promise<Conn> {
    let conn: Conn;
    try {
      conn = await mysql.createConnection({
        uri: source.url,
        database,
        connectTimeout: this.connectTimeoutMs,
        charset: 'utf8mb4',
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
        multipleStatements: false,
      });
    } catch (err) {
      throw mysqlConnectError(err, { label: source.label, where: parsed.where, database });
    }
    // A dropped connection surfaces on the failing query; do not crash on the event too.
    conn.on('error', () => {});
    await conn.query(`SET SESSION lock_wait_timeout = ${Number(this.lockTimeoutSecs)}`);
    return conn;
  }

  /** A session for CREATE/DROP DATABASE; falls back to information_schema when the source is gone. */
  private async admin(
    source: BranchSource,
    parsed: ParsedDatabaseUrl,
    allowFallback: boolean,
  ): Promise<Conn> {
    try {
      return await this.connect(source, parsed, parsed.database);
    } catch (err) {
      if (!allowFallback || (err as { code?: string }).code !== 'source_not_found') throw err;
      return this.connect(source, parsed, 'information_schema');
    }
  }

  async exists(source: BranchSource, name: string): Promise<BranchState> {
    const parsed = parseDatabaseUrl(source.url, 'mysql', source.label);
    assertBranchName(name, parsed.database);
    const admin = await this.admin(source, parsed, true);
    try {
      return await stateOf(admin, name);
    } finally {
      await admin.end().catch(() => admin.destroy());
    }
  }

  async drop(source: BranchSource, name: string): Promise<'dropped' | 'absent'> {
    const parsed = parseDatabaseUrl(source.url, 'mysql', source.label);
    assertBranchName(name, parsed.database);
    const admin = await this.admin(source, parsed, true);
    try {
      if ((await stateOf(admin, name)).state === 'absent') return 'absent';
      await dropDatabase(admin, name);
      return 'dropped';
    } finally {
      await admin.end().catch(() => admin.destroy());
    }
  }

  async create(
    spec: BranchSpec,
    source: BranchSource,
    onProgress: ProgressFn,
    signal?: AbortSignal,
  ): Promise<CreateOutcome> {
    const started = Date.now();
    const parsed = parseDatabaseUrl(source.url, 'mysql', source.label);
    assertBranchName(spec.name, parsed.database);
    const name = spec.name;
    const aborted = () => new BranchAbortedError(name);
    const conns: Conn[] = [];
    let ok = false;
    try {
      const admin = await this.connect(source, parsed, parsed.database);
      conns.push(admin);
      const state = await stateOf(admin, name);
      if (state.state === 'complete' && state.id === spec.id && state.generation === spec.generation) {
        onProgress({ message: 'the branch already exists', percent: 100 });
        ok = true;
        return { result: 'existing', tables: 0, rows: 0, ms: Date.now() - started };
      }
      if (state.state !== 'absent') {
        onProgress({ message: 'dropping an unfinished or outdated copy', percent: 0 });
        await dropDatabase(admin, name);
      }

      // The snapshot: every table's rows are read in this one transaction.
      const reader = await this.connect(source, parsed, parsed.database);
      conns.push(reader);
      await reader.query(`SET SESSION time_zone = '+00:00'`);
      await reader.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await reader.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');

      onProgress({ message: 'reading the source schema', percent: 1 });
      const [schemaRows] = await reader.query(
        'SELECT DEFAULT_CHARACTER_SET_NAME AS cs, DEFAULT_COLLATION_NAME AS co FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
        [parsed.database],
      );
      const charset = (schemaRows as Row[])[0] as { cs: string; co: string } | undefined;
      const [objectRows] = await reader.query(
        'SELECT TABLE_NAME AS name, TABLE_TYPE AS type, TABLE_ROWS AS est FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME',
        [parsed.database],
      );
      const objects = objectRows as { name: string; type: string; est: string | number | null }[];
      const tables = objects.filter(
        (o) => (o.type === 'BASE TABLE' || o.type === 'SYSTEM VERSIONED') && o.name !== MARKER_TABLE,
      );
      const views = objects.filter((o) => o.type === 'VIEW').map((o) => o.name);
      const sequences = objects.filter((o) => o.type === 'SEQUENCE').map((o) => o.name);
      const copies = spec.mode === 'all' ? tables : [];
      throwIfAborted(signal, aborted);

      const charsetSql =
        charset && /^\w+$/.test(charset.cs) && /^\w+$/.test(charset.co)
          ? ` CHARACTER SET ${charset.cs} COLLATE ${charset.co}`
          : '';
      await admin.query(`CREATE DATABASE ${qid(name)}${charsetSql}`).catch((err) => {
        throw mysqlStepError(err, `creating database '${name}' on ${parsed.where}`);
      });
      const writer = await this.connect(source, parsed, name);
      conns.push(writer);
      // No foreign key checks while tables fill in any order.
      await writer.query(`SET SESSION sql_mode = '${WRITER_SQL_MODE}'`);
      await writer.query('SET SESSION foreign_key_checks = 0, unique_checks = 0');
      await writer.query(`SET SESSION time_zone = '+00:00'`);

      onProgress({
        message: `creating ${tables.length} tables`,
        percent: 3,
        tablesDone: 0,
        tablesTotal: copies.length,
      });
      for (const s of sequences) {
        const ddl = await showCreate(reader, 'SEQUENCE', s, 'Create Table');
        await step(writer, ddl, `creating sequence ${s} in '${name}'`);
      }
      for (const t of tables) {
        throwIfAborted(signal, aborted);
        const ddl = await showCreate(reader, 'TABLE', t.name, 'Create Table');
        await step(writer, ddl, `creating table ${t.name} in '${name}'`);
      }

      const weight = (t: (typeof tables)[number]) => Math.max(1, Number(t.est ?? 0) || 0);
      const totalWeight = copies.reduce((sum, t) => sum + weight(t), 0);
      let doneWeight = 0;
      let rows = 0;
      for (const [i, t] of copies.entries()) {
        throwIfAborted(signal, aborted);
        rows += await copyRows(reader, writer, parsed.database, t.name, signal, aborted).catch((err) => {
          throw mysqlStepError(err, `copying table ${t.name}`);
        });
        doneWeight += weight(t);
        onProgress({
          message: `copied table ${t.name}`,
          percent: Math.round(5 + (85 * doneWeight) / totalWeight),
          tablesDone: i + 1,
          tablesTotal: copies.length,
          rowsCopied: rows,
        });
      }
      for (const s of sequences) {
        // Sequences are not transactional: the value read is at least the snapshot's.
        const [found] = await reader.query(`SELECT next_not_cached_value AS v FROM ${qid(s)}`);
        const v = String((found as Row[])[0]?.v ?? '');
        // SETVAL takes only literals; the value is checked to be an integer first.
        if (/^-?\d+$/.test(v))
          await step(writer, `SELECT SETVAL(${qid(s)}, ${v}, 0)`, `setting sequence ${s}`);
      }
      await reader.query('COMMIT');

      throwIfAborted(signal, aborted);
      onProgress({
        message: 'creating routines, views and triggers',
        percent: 92,
        tablesDone: copies.length,
        tablesTotal: copies.length,
        rowsCopied: rows,
      });
      await createRoutines(reader, writer, parsed.database, name);
      await createViews(reader, writer, views, name);
      await createTriggers(reader, writer, parsed.database, name);

      await step(
        writer,
        `CREATE TABLE ${qid(MARKER_TABLE)} (id VARCHAR(64) NOT NULL, generation VARCHAR(64) NULL, source VARCHAR(64) NOT NULL, state VARCHAR(16) NOT NULL, at VARCHAR(32) NOT NULL) ENGINE=InnoDB`,
        `marking '${name}' complete`,
      );
      await step(
        writer,
        mysql.format(`INSERT INTO ${qid(MARKER_TABLE)} VALUES (?, ?, ?, 'complete', ?)`, [
          spec.id,
          spec.generation,
          parsed.database,
          new Date().toISOString(),
        ]),
        `marking '${name}' complete`,
      );
      onProgress({
        message: 'ready',
        percent: 100,
        tablesDone: copies.length,
        tablesTotal: copies.length,
        rowsCopied: rows,
      });
      ok = true;
      return { result: 'created', tables: copies.length, rows, ms: Date.now() - started };
    } finally {
      // A connection in the middle of a streamed result cannot end politely.
      await Promise.all(
        conns.map((c) => (ok ? c.end().catch(() => c.destroy()) : Promise.resolve(c.destroy()))),
      );
    }
  }
}

async function step(conn: Conn, sql: string, what: string): Promise<void> {
  try {
    await conn.query(sql);
  } catch (err) {
    throw mysqlStepError(err, what);
  }
}

async function showCreate(
  reader: Conn,
  kind: 'TABLE' | 'VIEW' | 'SEQUENCE' | 'TRIGGER',
  name: string,
  column: string,
): Promise<string> {
  try {
    const [rows] = await reader.query(`SHOW CREATE ${kind} ${qid(name)}`);
    const ddl = (rows as Row[])[0]?.[column];
    if (typeof ddl !== 'string')
      throw new BranchCopyError(`SHOW CREATE ${kind} ${name} returned no definition`);
    return ddl;
  } catch (err) {
    throw mysqlStepError(err, `reading the definition of ${kind.toLowerCase()} ${name}`);
  }
}

async function copyRows(
  reader: Conn,
  writer: Conn,
  sourceDb: string,
  table: string,
  signal: AbortSignal | undefined,
  aborted: () => Error,
): Promise<number> {
  const [colRows] = await reader.query(
    'SELECT COLUMN_NAME AS name, DATA_TYPE AS type, EXTRA AS extra FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [sourceDb, table],
  );
  const cols = (colRows as { name: string; type: string; extra: string | null }[]).filter(
    (c) => !GENERATED.test(c.extra ?? ''),
  );
  if (cols.length === 0) return 0;
  const binary = new Set(cols.filter((c) => BINARY_TYPES.has(c.type.toLowerCase())).map((c) => c.name));
  const list = cols.map((c) => qid(c.name)).join(', ');
  const insert = `INSERT INTO ${qid(table)} (${list}) VALUES ?`;

  // Values stay in their text (or byte) form: no Date, number or JSON round trip to lose
  // precision, time zones or microseconds on the way.
  const stream = (
    reader as unknown as { connection: { query(o: object): { stream(o: object): Readable } } }
  ).connection
    .query({
      sql: `SELECT ${list} FROM ${qid(table)}`,
      rowsAsArray: true,
      typeCast: (field: { name: string; string(e?: string): string | null; buffer(): Buffer | null }) =>
        binary.has(field.name) ? field.buffer() : field.string('utf8'),
    })
    .stream({ highWaterMark: BATCH_ROWS });

  let rows = 0;
  await writer.query('START TRANSACTION');
  await new Promise<void>((resolve, reject) => {
    let batch: unknown[][] = [];
    let bytes = 0;
    let inflight: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      stream.destroy();
      reject(err);
    };
    const send = (rowsOut: unknown[][]) => {
      inflight = inflight.then(async () => {
        if (failed) return;
        throwIfAborted(signal, aborted);
        await writer.query(insert, [rowsOut]);
        rows += rowsOut.length;
      });
      inflight.catch(fail);
    };
    stream.on('data', (row: unknown[]) => {
      batch.push(row);
      for (const v of row) bytes += typeof v === 'string' ? v.length : Buffer.isBuffer(v) ? 2 * v.length : 8;
      if (batch.length < BATCH_ROWS && bytes < BATCH_BYTES) return;
      // One insert runs while the next batch is read; reading stops (and the server's socket
      // fills) only when a second batch is ready before the first is written.
      const previous = inflight;
      send(batch);
      batch = [];
      bytes = 0;
      stream.pause();
      previous.then(
        () => {
          if (!failed) stream.resume();
        },
        () => {},
      );
    });
    stream.on('end', () => {
      if (batch.length > 0) send(batch);
      inflight.then(() => {
        if (!failed) resolve();
      }, fail);
    });
    stream.on('error', fail);
  });
  await writer.query('COMMIT');
  return rows;
}

/** Views in dependency order: one over a view not made yet is retried after the others. */
async function createViews(reader: Conn, writer: Conn, views: string[], name: string): Promise<void> {
  let pending = await Promise.all(
    views.map(async (v) => ({
      view: v,
      ddl: stripDefiner(await showCreate(reader, 'VIEW', v, 'Create View')),
    })),
  );
  while (pending.length > 0) {
    const retry: { view: string; ddl: string; err: unknown }[] = [];
    for (const p of pending) {
      try {
        await writer.query(p.ddl);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'ER_NO_SUCH_TABLE' && code !== 'ER_VIEW_INVALID')
          throw mysqlStepError(err, `creating view ${p.view} in '${name}'`);
        retry.push({ ...p, err });
      }
    }
    if (retry.length === pending.length)
      throw mysqlStepError(retry[0]!.err, `creating view ${retry[0]!.view} in '${name}'`);
    pending = retry;
  }
}

/** Runs a definition read from the source under the sql_mode it was created with. */
async function replay(writer: Conn, ddl: string, sqlMode: unknown, what: string): Promise<void> {
  await writer.query('SET SESSION sql_mode = ?', [String(sqlMode ?? '')]);
  try {
    await step(writer, stripDefiner(ddl), what);
  } finally {
    await writer.query(`SET SESSION sql_mode = '${WRITER_SQL_MODE}'`);
  }
}

/** Stored functions and procedures, before the views that may call them. */
async function createRoutines(reader: Conn, writer: Conn, sourceDb: string, name: string): Promise<void> {
  const [rows] = await reader.query(
    'SELECT ROUTINE_NAME AS name, ROUTINE_TYPE AS kind FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_TYPE, ROUTINE_NAME',
    [sourceDb],
  );
  for (const r of rows as { name: string; kind: 'FUNCTION' | 'PROCEDURE' }[]) {
    const label = `${r.kind.toLowerCase()} ${r.name}`;
    const [defRows] = await reader.query(`SHOW CREATE ${r.kind} ${qid(r.name)}`).catch((err) => {
      throw mysqlStepError(err, `reading ${label}`);
    });
    const def = (defRows as Row[])[0] ?? {};
    const ddl = def[r.kind === 'FUNCTION' ? 'Create Function' : 'Create Procedure'];
    if (typeof ddl !== 'string') {
      throw new BranchPermissionError(
        `cannot read the definition of ${label}: the URL's user must be its definer or hold SHOW_ROUTINE (or SELECT on mysql.proc)`,
      );
    }
    await replay(writer, ddl, def.sql_mode, `creating ${label} in '${name}'`);
  }
}

/** Triggers last, so the copy fired none; each under the sql_mode it was created with. */
async function createTriggers(reader: Conn, writer: Conn, sourceDb: string, name: string): Promise<void> {
  const [rows] = await reader.query(
    'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER',
    [sourceDb],
  );
  for (const { name: trigger } of rows as { name: string }[]) {
    const [defRows] = await reader.query(`SHOW CREATE TRIGGER ${qid(trigger)}`).catch((err) => {
      throw mysqlStepError(err, `reading trigger ${trigger}`);
    });
    const def = (defRows as Row[])[0] ?? {};
    const ddl = def['SQL Original Statement'];
    if (typeof ddl !== 'string')
      throw new BranchCopyError(`SHOW CREATE TRIGGER ${trigger} returned no definition`);
    await replay(writer, ddl, def.sql_mode, `creating trigger ${trigger} in '${name}'`);
  }
}

async function stateOf(admin: Conn, name: string): Promise<BranchState> {
  const [found] = await admin
    .query('SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name])
    .catch((err) => {
      throw mysqlStepError(err, `looking for database '${name}'`);
    });
  if ((found as Row[]).length === 0) return { state: 'absent' };
  try {
    const [rows] = await admin.query(
      `SELECT id, generation, state FROM ${qid(name)}.${qid(MARKER_TABLE)} LIMIT 1`,
    );
    const m = (rows as { id: string; generation: string | null; state: string }[])[0];
    if (m?.state !== 'complete') return { state: 'incomplete' };
    return { state: 'complete', id: m.id, ...(m.generation ? { generation: m.generation } : {}) };
  } catch (err) {
    if ((err as { code?: string }).code === 'ER_NO_SUCH_TABLE') return { state: 'incomplete' };
    throw mysqlStepError(err, `reading the marker of '${name}'`);
  }
}

async function dropDatabase(admin: Conn, name: string): Promise<void> {
  // Sessions still using the branch (the developer's app) hold metadata locks that would stall
  // the drop: end the ones this user may see, best effort.
  try {
    const [rows] = await admin.query(
      'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()',
      [name],
    );
    for (const { id } of rows as { id: number | string }[]) {
      await admin.query(`KILL ${Number(id)}`).catch(() => {});
    }
  } catch {
    // No PROCESS privilege: the drop may wait for those sessions, up to lock_wait_timeout.
  }
  await step(admin, `DROP DATABASE IF EXISTS ${qid(name)}`, `dropping database '${name}'`);
}
