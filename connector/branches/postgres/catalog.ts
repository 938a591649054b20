import type { ClientBase } from 'pg';

/**
 * Reads the source's schema from the system catalogs, as pg_dump does but with plain SQL (no
 * pg_dump binary in the connector image). Run it with `search_path = pg_catalog`, so that every
 * name the pg_get_*def functions print comes schema-qualified and replays in any database.
 *
 * Objects that belong to an extension are skipped: `CREATE EXTENSION` recreates them.
 */

export interface PgColumn {
  name: string;
  type: string;
  notNull: boolean;
  default: string | null;
  /** '' | 'a' (ALWAYS) | 'd' (BY DEFAULT) */
  identity: string;
  /** '' | 's' (STORED generated column) */
  generated: string;
  collation: string | null;
}

export interface PgConstraint {
  name: string;
  /** p primary key, u unique, x exclusion, c check, f foreign key */
  type: 'p' | 'u' | 'x' | 'c' | 'f';
  def: string;
}

export interface PgNamed {
  name: string;
  def: string;
}

export interface PgTrigger extends PgNamed {
  /** O enabled, D disabled, R replica, A always */
  enabled: string;
}

export interface PgTable {
  oid: number;
  schema: string;
  name: string;
  /** r ordinary, p partitioned (holds no rows itself) */
  kind: 'r' | 'p';
  unlogged: boolean;
  partitionKey: string | null;
  parent: { schema: string; name: string } | null;
  bound: string | null;
  options: string[] | null;
  rowEstimate: number;
  columns: PgColumn[];
  constraints: PgConstraint[];
  indexes: PgNamed[];
  triggers: PgTrigger[];
}

export interface PgView {
  oid: number;
  schema: string;
  name: string;
  /** v view, m materialized view */
  kind: 'v' | 'm';
  def: string;
  options: string[] | null;
  populated: boolean;
  indexes: PgNamed[];
  triggers: PgTrigger[];
}

export interface PgSequence {
  schema: string;
  name: string;
  type: string;
  start: string;
  increment: string;
  min: string;
  max: string;
  cache: string;
  cycle: boolean;
  ownedBy: { schema: string; table: string; column: string } | null;
  /** Belongs to an identity column: created by the column's IDENTITY clause. */
  identity: boolean;
}

export interface PgDatabase {
  encoding: string;
  collate: string;
  ctype: string;
  /** c libc, i icu, b builtin (17+); absent before 15 */
  provider: string | null;
  locale: string | null;
}

export interface PgCatalog {
  serverVersion: number;
  database: PgDatabase;
  extensions: { name: string; schema: string }[];
  schemas: string[];
  enums: { schema: string; name: string; labels: string[] }[];
  domains: {
    schema: string;
    name: string;
    base: string;
    notNull: boolean;
    default: string | null;
    collation: string | null;
    checks: PgNamed[];
  }[];
  composites: { schema: string; name: string; attrs: { name: string; type: string }[] }[];
  functions: { schema: string; name: string; def: string }[];
  sequences: PgSequence[];
  tables: PgTable[];
  views: PgView[];
}

const USER_NS = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp_)'`;

function notFromExtension(catalog: string, oid: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
}

const collationName = (oid: string) =>
  `(SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname) FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = ${oid})`;

export async function readCatalog(client: ClientBase): Promise<PgCatalog> {
  const q = async <T>(text: string, values: unknown[] = []): Promise<T[]> =>
    (await client.query(text, values)).rows as T[];

  const versionNum = Number(
    (await q<{ server_version_num: string }>('SHOW server_version_num'))[0]?.server_version_num,
  );

  const [dbRow] = await q<{ d: Record<string, unknown>; encoding: string }>(
    `SELECT to_jsonb(d) - 'datacl' AS d, pg_encoding_to_char(d.encoding) AS encoding
       FROM pg_database d WHERE d.datname = current_database()`,
  );
  const d = dbRow?.d ?? {};
  const database: PgDatabase = {
    encoding: dbRow?.encoding ?? 'UTF8',
    collate: String(d.datcollate ?? 'C'),
    ctype: String(d.datctype ?? 'C'),
    provider: typeof d.datlocprovider === 'string' ? d.datlocprovider : null,
    locale: (d.datlocale ?? d.daticulocale ?? null) as string | null,
  };

  const extensions = await q<{ name: string; schema: string }>(
    `SELECT e.extname AS name, n.nspname AS schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname <> 'plpgsql' ORDER BY e.oid`,
  );

  const schemas = (
    await q<{ name: string }>(
      `SELECT n.nspname AS name FROM pg_namespace n WHERE ${USER_NS} AND ${notFromExtension('pg_namespace', 'n.oid')} ORDER BY n.oid`,
    )
  ).map((r) => r.name);

  const enums = await q<PgCatalog['enums'][number]>(
    `SELECT n.nspname AS schema, t.typname AS name, array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace JOIN pg_enum e ON e.enumtypid = t.oid
      WHERE t.typtype = 'e' AND ${USER_NS} AND ${notFromExtension('pg_type', 't.oid')}
      GROUP BY t.oid, n.nspname, t.typname ORDER BY t.oid`,
  );

  const domains = await q<PgCatalog['domains'][number]>(
    `SELECT n.nspname AS schema, t.typname AS name, format_type(t.typbasetype, t.typtypmod) AS base,
            t.typnotnull AS "notNull", t.typdefault AS "default",
            CASE WHEN t.typcollation <> 0 AND t.typcollation <> bt.typcollation THEN ${collationName('t.typcollation')} END AS collation,
            coalesce((SELECT json_agg(json_build_object('name', c.conname, 'def', pg_get_constraintdef(c.oid)) ORDER BY c.conname)
                        FROM pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c'), '[]') AS checks
       FROM pg_type t JOIN pg_type bt ON bt.oid = t.typbasetype JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE t.typtype = 'd' AND ${USER_NS} AND ${notFromExtension('pg_type', 't.oid')} ORDER BY t.oid`,
  );

  const composites = await q<PgCatalog['composites'][number]>(
    `SELECT n.nspname AS schema, t.typname AS name,
            json_agg(json_build_object('name', a.attname, 'type', format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum) AS attrs
       FROM pg_type t JOIN pg_class c ON c.oid = t.typrelid AND c.relkind = 'c'
       JOIN pg_namespace n ON n.oid = t.typnamespace
       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
      WHERE t.typtype = 'c' AND ${USER_NS} AND ${notFromExtension('pg_type', 't.oid')}
      GROUP BY t.oid, n.nspname, t.typname ORDER BY t.oid`,
  );

  const functions = await q<PgCatalog['functions'][number]>(
    `SELECT n.nspname AS schema, p.proname AS name, pg_get_functiondef(p.oid) AS def
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE p.prokind IN ('f', 'p') AND ${USER_NS} AND ${notFromExtension('pg_proc', 'p.oid')} ORDER BY p.oid`,
  );

  const sequences = await q<PgSequence>(
    `SELECT n.nspname AS schema, c.relname AS name, format_type(s.seqtypid, NULL) AS type,
            s.seqstart::text AS start, s.seqincrement::text AS increment, s.seqmin::text AS min,
            s.seqmax::text AS max, s.seqcache::text AS cache, s.seqcycle AS cycle,
            (SELECT json_build_object('schema', tn.nspname, 'table', tc.relname, 'column', a.attname)
               FROM pg_depend d JOIN pg_class tc ON tc.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = tc.relnamespace
               JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
              WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.refclassid = 'pg_class'::regclass
                AND d.deptype IN ('a', 'i') LIMIT 1) AS "ownedBy",
            EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'i') AS identity
       FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind = 'S' AND ${USER_NS} AND ${notFromExtension('pg_class', 'c.oid')} ORDER BY c.oid`,
  );

  const tableRows = await q<Omit<PgTable, 'columns' | 'constraints' | 'indexes' | 'triggers'>>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind,
            c.relpersistence = 'u' AS unlogged,
            CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS "partitionKey",
            CASE WHEN c.relispartition THEN (SELECT json_build_object('schema', pn.nspname, 'name', pc.relname)
                   FROM pg_inherits i JOIN pg_class pc ON pc.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = pc.relnamespace
                  WHERE i.inhrelid = c.oid) END AS parent,
            CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
            c.reloptions::text[] AS options, greatest(c.reltuples, 0)::float8 AS "rowEstimate"
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND ${USER_NS} AND ${notFromExtension('pg_class', 'c.oid')} ORDER BY c.oid`,
  );

  const viewRows = await q<Omit<PgView, 'indexes' | 'triggers'>>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relkind AS kind, pg_get_viewdef(c.oid) AS def,
            c.reloptions::text[] AS options, c.relispopulated AS populated
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('v', 'm') AND ${USER_NS} AND ${notFromExtension('pg_class', 'c.oid')} ORDER BY c.oid`,
  );

  const relOids = [...tableRows.map((t) => t.oid), ...viewRows.map((v) => v.oid)];

  const columns = await q<PgColumn & { rel: number }>(
    `SELECT a.attrelid::int AS rel, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            a.attnotnull AS "notNull", CASE WHEN a.atthasdef THEN pg_get_expr(ad.adbin, ad.adrelid) END AS "default",
            a.attidentity::text AS identity, a.attgenerated::text AS generated,
            CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation THEN ${collationName('a.attcollation')} END AS collation
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
       LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
      WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attrelid, a.attnum`,
    [relOids],
  );

  // Constraints cloned onto partitions (conparentid <> 0) and inherited checks come back with
  // their parent's; listing them again would create duplicates.
  const constraints = await q<PgConstraint & { rel: number }>(
    `SELECT c.conrelid::int AS rel, c.conname AS name, c.contype::text AS type, pg_get_constraintdef(c.oid) AS def
       FROM pg_constraint c
      WHERE c.conrelid = ANY($1::oid[]) AND c.contype IN ('p', 'u', 'x', 'c', 'f') AND c.conparentid = 0
        AND (c.contype <> 'c' OR c.conislocal)
      ORDER BY c.conrelid, c.conname`,
    [relOids],
  );

  const indexes = await q<PgNamed & { rel: number }>(
    `SELECT i.indrelid::int AS rel, ic.relname AS name, pg_get_indexdef(i.indexrelid) AS def
       FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
      WHERE i.indrelid = ANY($1::oid[])
        AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x'))
        AND NOT EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
      ORDER BY i.indrelid, ic.relname`,
    [relOids],
  );

  const clonedTrigger = versionNum >= 130000 ? 'AND t.tgparentid = 0' : '';
  const triggers = await q<PgTrigger & { rel: number }>(
    `SELECT t.tgrelid::int AS rel, t.tgname AS name, pg_get_triggerdef(t.oid) AS def, t.tgenabled::text AS enabled
       FROM pg_trigger t WHERE t.tgrelid = ANY($1::oid[]) AND NOT t.tgisinternal ${clonedTrigger}
      ORDER BY t.tgrelid, t.tgname`,
    [relOids],
  );

  const byRel = <T extends { rel: number }>(rows: T[], rel: number): Omit<T, 'rel'>[] =>
    rows.filter((r) => r.rel === rel).map(({ rel: _rel, ...rest }) => rest);

  return {
    serverVersion: versionNum,
    database,
    extensions,
    schemas,
    enums,
    domains,
    composites,
    functions,
    sequences,
    tables: tableRows.map((t) => ({
      ...t,
      rowEstimate: Number(t.rowEstimate),
      columns: byRel(columns, t.oid),
      constraints: byRel(constraints, t.oid),
      indexes: byRel(indexes, t.oid),
      triggers: byRel(triggers, t.oid),
    })),
    views: viewRows.map((v) => ({ ...v, indexes: byRel(indexes, v.oid), triggers: byRel(triggers, v.oid) })),
  };
}
