import { escapeIdentifier, escapeLiteral } from 'pg';
import type { PgCatalog, PgColumn, PgDatabase, PgSequence, PgTable, PgTrigger } from './catalog.ts';

/**
 * Turns a catalog into the statements that rebuild it in the branch, in pg_dump's order:
 * pre-data (extensions, schemas, types, functions, sequences, tables), data, post-data
 * (constraints and indexes after the rows, which is faster and lets NOT VALID constraints hold
 * old rows; foreign keys after every table is full; views; triggers last, so the copy fires none).
 *
 * Every name is quoted with `escapeIdentifier` and every literal with `escapeLiteral`;
 * expressions come from the server's own pg_get_*def functions.
 */

export interface Statement {
  label: string;
  sql: string;
}

export interface TableCopy {
  label: string;
  /** Source side. */
  out: string;
  /** Branch side. */
  in: string;
  rowEstimate: number;
}

export interface PgPlan {
  preData: Statement[];
  copies: TableCopy[];
  /** Sequences whose value is carried over once the rows are in: `[qualified name, label]`. */
  sequences: { name: string; label: string }[];
  postData: Statement[];
}

export const qname = (schema: string, name: string): string =>
  `${escapeIdentifier(schema)}.${escapeIdentifier(name)}`;
const shown = (schema: string, name: string) => `${schema}.${name}`;

/** A value the catalog printed as an integer; anything else means the catalog read went wrong. */
function int(value: string): string {
  if (!/^-?\d+$/.test(value))
    throw new Error(`expected an integer from the catalog, got ${JSON.stringify(value)}`);
  return value;
}

export function createDatabaseSql(name: string, db: PgDatabase): string {
  // template0 with the source's encoding and locale: template1 may carry objects of its own, and a
  // branch must sort and compare text exactly as its source does.
  const parts = [
    `CREATE DATABASE ${escapeIdentifier(name)} TEMPLATE template0`,
    `ENCODING ${escapeLiteral(db.encoding)}`,
    `LC_COLLATE ${escapeLiteral(db.collate)}`,
    `LC_CTYPE ${escapeLiteral(db.ctype)}`,
  ];
  if (db.provider === 'i' && db.locale)
    parts.push(`LOCALE_PROVIDER icu ICU_LOCALE ${escapeLiteral(db.locale)}`);
  if (db.provider === 'b' && db.locale)
    parts.push(`LOCALE_PROVIDER builtin BUILTIN_LOCALE ${escapeLiteral(db.locale)}`);
  return parts.join(' ');
}

function sequenceOptions(s: PgSequence): string {
  return [
    `INCREMENT BY ${int(s.increment)}`,
    `MINVALUE ${int(s.min)}`,
    `MAXVALUE ${int(s.max)}`,
    `START WITH ${int(s.start)}`,
    `CACHE ${int(s.cache)}`,
    s.cycle ? 'CYCLE' : 'NO CYCLE',
  ].join(' ');
}

function identitySequence(cat: PgCatalog, t: PgTable, c: PgColumn): PgSequence | undefined {
  return cat.sequences.find(
    (s) =>
      s.identity &&
      s.ownedBy?.schema === t.schema &&
      s.ownedBy.table === t.name &&
      s.ownedBy.column === c.name,
  );
}

function columnSql(cat: PgCatalog, t: PgTable, c: PgColumn): string {
  const parts = [escapeIdentifier(c.name), c.type];
  if (c.collation) parts.push(`COLLATE ${c.collation}`);
  if (c.generated === 's' && c.default) parts.push(`GENERATED ALWAYS AS (${c.default}) STORED`);
  else if (c.default !== null) parts.push(`DEFAULT ${c.default}`);
  if (c.notNull) parts.push('NOT NULL');
  if (c.identity === 'a' || c.identity === 'd') {
    const seq = identitySequence(cat, t, c);
    const options = seq ? ` (SEQUENCE NAME ${qname(seq.schema, seq.name)} ${sequenceOptions(seq)})` : '';
    parts.push(`GENERATED ${c.identity === 'a' ? 'ALWAYS' : 'BY DEFAULT'} AS IDENTITY${options}`);
  }
  return parts.join(' ');
}

const withOptions = (options: string[] | null) =>
  options && options.length > 0 ? ` WITH (${options.join(', ')})` : '';

function createTableSql(cat: PgCatalog, t: PgTable): string {
  const name = qname(t.schema, t.name);
  const partitionBy = t.partitionKey ? ` PARTITION BY ${t.partitionKey}` : '';
  if (t.parent && t.bound) {
    return `CREATE TABLE ${name} PARTITION OF ${qname(t.parent.schema, t.parent.name)} ${t.bound}${partitionBy}${withOptions(t.options)}`;
  }
  const columns = t.columns.map((c) => `  ${columnSql(cat, t, c)}`).join(',\n');
  return `CREATE ${t.unlogged ? 'UNLOGGED ' : ''}TABLE ${name} (\n${columns}\n)${partitionBy}${withOptions(t.options)}`;
}

/** Parents before their partitions, otherwise the catalog's (creation) order. */
function tablesInOrder(tables: PgTable[]): PgTable[] {
  const out: PgTable[] = [];
  const placed = new Set<string>();
  let pending = [...tables];
  while (pending.length > 0) {
    const ready = pending.filter((t) => !t.parent || placed.has(shown(t.parent.schema, t.parent.name)));
    // A parent outside the copied set (should not happen): place the rest as they come.
    const next = ready.length > 0 ? ready : pending;
    for (const t of next) {
      out.push(t);
      placed.add(shown(t.schema, t.name));
    }
    pending = pending.filter((t) => !next.includes(t));
  }
  return out;
}

function triggerSql(table: string, tr: PgTrigger): Statement[] {
  const out: Statement[] = [{ label: `trigger ${tr.name} on ${table}`, sql: tr.def }];
  const state = { D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' }[tr.enabled];
  if (state)
    out.push({
      label: `trigger ${tr.name} state`,
      sql: `ALTER TABLE ${table} ${state} TRIGGER ${escapeIdentifier(tr.name)}`,
    });
  return out;
}

export function planBranch(cat: PgCatalog, opts: { withData: boolean }): PgPlan {
  const pre: Statement[] = [];
  const post: Statement[] = [];

  for (const s of cat.schemas) {
    pre.push({ label: `schema ${s}`, sql: `CREATE SCHEMA IF NOT EXISTS ${escapeIdentifier(s)}` });
  }
  for (const e of cat.extensions) {
    pre.push({
      label: `extension ${e.name}`,
      sql: `CREATE EXTENSION IF NOT EXISTS ${escapeIdentifier(e.name)} WITH SCHEMA ${escapeIdentifier(e.schema)}`,
    });
  }
  for (const e of cat.enums) {
    pre.push({
      label: `type ${shown(e.schema, e.name)}`,
      sql: `CREATE TYPE ${qname(e.schema, e.name)} AS ENUM (${e.labels.map(escapeLiteral).join(', ')})`,
    });
  }
  for (const d of cat.domains) {
    const name = qname(d.schema, d.name);
    const parts = [`CREATE DOMAIN ${name} AS ${d.base}`];
    if (d.collation) parts.push(`COLLATE ${d.collation}`);
    if (d.default !== null) parts.push(`DEFAULT ${d.default}`);
    if (d.notNull) parts.push('NOT NULL');
    pre.push({ label: `domain ${shown(d.schema, d.name)}`, sql: parts.join(' ') });
    for (const c of d.checks) {
      pre.push({
        label: `domain ${shown(d.schema, d.name)} constraint ${c.name}`,
        sql: `ALTER DOMAIN ${name} ADD CONSTRAINT ${escapeIdentifier(c.name)} ${c.def}`,
      });
    }
  }
  for (const c of cat.composites) {
    const attrs = c.attrs.map((a) => `${escapeIdentifier(a.name)} ${a.type}`).join(', ');
    pre.push({
      label: `type ${shown(c.schema, c.name)}`,
      sql: `CREATE TYPE ${qname(c.schema, c.name)} AS (${attrs})`,
    });
  }
  // Functions before tables (defaults and checks may call them); one whose signature names a
  // table's row type fails here and is retried once the tables exist.
  for (const f of cat.functions) pre.push({ label: `function ${shown(f.schema, f.name)}`, sql: f.def });
  for (const s of cat.sequences.filter((x) => !x.identity)) {
    pre.push({
      label: `sequence ${shown(s.schema, s.name)}`,
      sql: `CREATE SEQUENCE ${qname(s.schema, s.name)} AS ${s.type} ${sequenceOptions(s)}`,
    });
  }
  const tables = tablesInOrder(cat.tables);
  for (const t of tables)
    pre.push({ label: `table ${shown(t.schema, t.name)}`, sql: createTableSql(cat, t) });
  for (const s of cat.sequences.filter((x) => !x.identity && x.ownedBy)) {
    const o = s.ownedBy!;
    pre.push({
      label: `sequence ${shown(s.schema, s.name)} owner`,
      sql: `ALTER SEQUENCE ${qname(s.schema, s.name)} OWNED BY ${qname(o.schema, o.table)}.${escapeIdentifier(o.column)}`,
    });
  }

  const copies: TableCopy[] = opts.withData
    ? tables
        .filter((t) => t.kind === 'r')
        .map((t) => {
          const name = qname(t.schema, t.name);
          const cols = t.columns.filter((c) => c.generated === '').map((c) => escapeIdentifier(c.name));
          const list = cols.length > 0 ? ` (${cols.join(', ')})` : '';
          return {
            label: shown(t.schema, t.name),
            out: `COPY ${name}${list} TO STDOUT`,
            in: `COPY ${name}${list} FROM STDIN`,
            rowEstimate: t.rowEstimate,
          };
        })
    : [];

  const constraints = (types: string[]) =>
    tables.flatMap((t) =>
      t.constraints
        .filter((c) => types.includes(c.type))
        .map((c) => ({
          label: `constraint ${c.name} on ${shown(t.schema, t.name)}`,
          sql: `ALTER TABLE ${qname(t.schema, t.name)} ADD CONSTRAINT ${escapeIdentifier(c.name)} ${c.def}`,
        })),
    );
  post.push(...constraints(['p', 'u', 'x', 'c']));
  for (const t of tables) {
    for (const i of t.indexes) {
      // A partitioned table's index is printed "ON ONLY": without ONLY it cascades to the partitions.
      post.push({ label: `index ${i.name}`, sql: i.def.replace(/ ON ONLY /, ' ON ') });
    }
  }
  post.push(...constraints(['f']));
  for (const v of cat.views) {
    const body = v.def.trim().replace(/;$/, '');
    const name = qname(v.schema, v.name);
    post.push(
      v.kind === 'v'
        ? {
            label: `view ${shown(v.schema, v.name)}`,
            sql: `CREATE VIEW ${name}${withOptions(v.options)} AS ${body}`,
          }
        : {
            label: `materialized view ${shown(v.schema, v.name)}`,
            sql: `CREATE MATERIALIZED VIEW ${name}${withOptions(v.options)} AS ${body} WITH ${opts.withData && v.populated ? '' : 'NO '}DATA`,
          },
    );
    for (const i of v.indexes) post.push({ label: `index ${i.name}`, sql: i.def });
  }
  for (const t of tables) post.push(...t.triggers.flatMap((tr) => triggerSql(qname(t.schema, t.name), tr)));
  for (const v of cat.views)
    post.push(...v.triggers.flatMap((tr) => triggerSql(qname(v.schema, v.name), tr)));

  return {
    preData: pre,
    copies,
    sequences: cat.sequences.map((s) => ({ name: qname(s.schema, s.name), label: shown(s.schema, s.name) })),
    postData: post,
  };
}
