import { describe, expect, it } from 'vitest';
import type { PgCatalog, PgColumn, PgTable } from '../../connector/branches/postgres/catalog.ts';
import { createDatabaseSql, planBranch } from '../../connector/branches/postgres/ddl.ts';

// Factories

function column(name: string, over: Partial<PgColumn> = {}): PgColumn {
  return {
    name,
    type: 'integer',
    notNull: false,
    default: null,
    identity: '',
    generated: '',
    collation: null,
    ...over,
  };
}

function table(schema: string, name: string, over: Partial<PgTable> = {}): PgTable {
  return {
    oid: 1,
    schema,
    name,
    kind: 'r',
    unlogged: false,
    partitionKey: null,
    parent: null,
    bound: null,
    options: null,
    rowEstimate: 0,
    columns: [column('id', { notNull: true })],
    constraints: [],
    indexes: [],
    triggers: [],
    ...over,
  };
}

function catalog(over: Partial<PgCatalog> = {}): PgCatalog {
  return {
    serverVersion: 150000,
    database: { encoding: 'UTF8', collate: 'en_US.UTF-8', ctype: 'en_US.UTF-8', provider: 'c', locale: null },
    extensions: [],
    schemas: ['public'],
    enums: [],
    domains: [],
    composites: [],
    functions: [],
    sequences: [],
    tables: [],
    views: [],
    ...over,
  };
}

const sqlOf = (statements: { sql: string }[]) => statements.map((s) => s.sql);

describe('planBranch', () => {
  it('quotes every name, however odd', () => {
    // Prepare
    const cat = catalog({
      schemas: ['We"ird'],
      enums: [{ schema: 'We"ird', name: 'mood', labels: ["it's", 'ok'] }],
      tables: [
        table('We"ird', 'Order Items', {
          columns: [column('id'), column('select', { type: 'text', collation: '"pg_catalog"."C"' })],
        }),
      ],
    });
    // Act
    const plan = planBranch(cat, { withData: true });
    // Assess
    expect(sqlOf(plan.preData)).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "We""ird"',
      `CREATE TYPE "We""ird"."mood" AS ENUM ('it''s', 'ok')`,
      'CREATE TABLE "We""ird"."Order Items" (\n  "id" integer,\n  "select" text COLLATE "pg_catalog"."C"\n)',
    ]);
    expect(plan.copies[0]?.out).toBe('COPY "We""ird"."Order Items" ("id", "select") TO STDOUT');
    expect(plan.copies[0]?.in).toBe('COPY "We""ird"."Order Items" ("id", "select") FROM STDIN');
  });

  it('writes identity, serial, defaults and generated columns, and copies no generated values', () => {
    const t = table('public', 'orders', {
      columns: [
        column('id', { type: 'bigint', notNull: true, identity: 'a' }),
        column('n', { notNull: true, default: "nextval('public.n_seq'::regclass)" }),
        column('total', { type: 'numeric(12,2)' }),
        column('doubled', { type: 'numeric', generated: 's', default: '(total * (2)::numeric)' }),
      ],
    });
    const cat = catalog({
      tables: [t],
      sequences: [
        {
          schema: 'public',
          name: 'orders_id_seq',
          type: 'bigint',
          start: '1',
          increment: '1',
          min: '1',
          max: '9223372036854775807',
          cache: '1',
          cycle: false,
          ownedBy: { schema: 'public', table: 'orders', column: 'id' },
          identity: true,
        },
        {
          schema: 'public',
          name: 'n_seq',
          type: 'integer',
          start: '10',
          increment: '5',
          min: '1',
          max: '2147483647',
          cache: '1',
          cycle: true,
          ownedBy: { schema: 'public', table: 'orders', column: 'n' },
          identity: false,
        },
      ],
    });
    const plan = planBranch(cat, { withData: true });
    expect(sqlOf(plan.preData)).toEqual([
      'CREATE SCHEMA IF NOT EXISTS "public"',
      'CREATE SEQUENCE "public"."n_seq" AS integer INCREMENT BY 5 MINVALUE 1 MAXVALUE 2147483647 START WITH 10 CACHE 1 CYCLE',
      'CREATE TABLE "public"."orders" (\n' +
        '  "id" bigint NOT NULL GENERATED ALWAYS AS IDENTITY (SEQUENCE NAME "public"."orders_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1 NO CYCLE),\n' +
        `  "n" integer DEFAULT nextval('public.n_seq'::regclass) NOT NULL,\n` +
        '  "total" numeric(12,2),\n' +
        '  "doubled" numeric GENERATED ALWAYS AS ((total * (2)::numeric)) STORED\n' +
        ')',
      'ALTER SEQUENCE "public"."n_seq" OWNED BY "public"."orders"."n"',
    ]);
    expect(plan.copies[0]?.out).toBe('COPY "public"."orders" ("id", "n", "total") TO STDOUT');
    expect(plan.sequences.map((s) => s.name)).toEqual(['"public"."orders_id_seq"', '"public"."n_seq"']);
  });

  it('rejects a sequence value that is not an integer instead of writing it into SQL', () => {
    const cat = catalog({
      sequences: [
        {
          schema: 'public',
          name: 's',
          type: 'bigint',
          start: '1; DROP TABLE x',
          increment: '1',
          min: '1',
          max: '10',
          cache: '1',
          cycle: false,
          ownedBy: null,
          identity: false,
        },
      ],
    });
    expect(() => planBranch(cat, { withData: false })).toThrow(/expected an integer/);
  });

  it('creates parents before partitions, cascades partitioned indexes, and copies only leaves', () => {
    const cat = catalog({
      tables: [
        table('public', 'events_2026', {
          parent: { schema: 'public', name: 'events' },
          bound: "FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
        }),
        table('public', 'events', {
          kind: 'p',
          partitionKey: 'RANGE (at)',
          indexes: [
            { name: 'events_body', def: 'CREATE INDEX events_body ON ONLY public.events USING btree (body)' },
          ],
        }),
      ],
    });
    const plan = planBranch(cat, { withData: true });
    expect(plan.preData.map((s) => s.label)).toEqual([
      'schema public',
      'table public.events',
      'table public.events_2026',
    ]);
    expect(plan.preData[2]?.sql).toBe(
      `CREATE TABLE "public"."events_2026" PARTITION OF "public"."events" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
    );
    expect(plan.postData.map((s) => s.sql)).toEqual([
      'CREATE INDEX events_body ON public.events USING btree (body)',
    ]);
    expect(plan.copies.map((c) => c.label)).toEqual(['public.events_2026']);
  });

  it('orders post-data: keys and checks, indexes, foreign keys, views, triggers', () => {
    const cat = catalog({
      tables: [
        table('public', 'orders', {
          unlogged: true,
          options: ['fillfactor=70'],
          constraints: [
            {
              name: 'orders_customer_fkey',
              type: 'f',
              def: 'FOREIGN KEY (customer_id) REFERENCES public.customers(id)',
            },
            { name: 'orders_pkey', type: 'p', def: 'PRIMARY KEY (id)' },
            { name: 'orders_total_check', type: 'c', def: 'CHECK ((total >= (0)::numeric)) NOT VALID' },
          ],
          indexes: [
            {
              name: 'orders_by_customer',
              def: 'CREATE INDEX orders_by_customer ON public.orders USING btree (customer_id)',
            },
          ],
          triggers: [
            {
              name: 'audit',
              def: 'CREATE TRIGGER audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.audit()',
              enabled: 'D',
            },
          ],
        }),
      ],
      views: [
        {
          oid: 2,
          schema: 'public',
          name: 'totals',
          kind: 'v',
          def: ' SELECT 1 AS one;',
          options: ['security_barrier=true'],
          populated: true,
          indexes: [],
          triggers: [],
        },
        {
          oid: 3,
          schema: 'public',
          name: 'mv',
          kind: 'm',
          def: ' SELECT 2 AS two;',
          options: null,
          populated: true,
          indexes: [{ name: 'mv_two', def: 'CREATE UNIQUE INDEX mv_two ON public.mv USING btree (two)' }],
          triggers: [],
        },
      ],
    });
    const plan = planBranch(cat, { withData: true });
    expect(plan.preData.at(-1)?.sql).toBe(
      'CREATE UNLOGGED TABLE "public"."orders" (\n  "id" integer NOT NULL\n) WITH (fillfactor=70)',
    );
    expect(sqlOf(plan.postData)).toEqual([
      'ALTER TABLE "public"."orders" ADD CONSTRAINT "orders_pkey" PRIMARY KEY (id)',
      'ALTER TABLE "public"."orders" ADD CONSTRAINT "orders_total_check" CHECK ((total >= (0)::numeric)) NOT VALID',
      'CREATE INDEX orders_by_customer ON public.orders USING btree (customer_id)',
      'ALTER TABLE "public"."orders" ADD CONSTRAINT "orders_customer_fkey" FOREIGN KEY (customer_id) REFERENCES public.customers(id)',
      'CREATE VIEW "public"."totals" WITH (security_barrier=true) AS SELECT 1 AS one',
      'CREATE MATERIALIZED VIEW "public"."mv" AS SELECT 2 AS two WITH DATA',
      'CREATE UNIQUE INDEX mv_two ON public.mv USING btree (two)',
      'CREATE TRIGGER audit AFTER INSERT ON public.orders FOR EACH ROW EXECUTE FUNCTION public.audit()',
      'ALTER TABLE "public"."orders" DISABLE TRIGGER "audit"',
    ]);
  });

  it('copies nothing and leaves materialized views empty in schema mode', () => {
    const cat = catalog({
      tables: [table('public', 't')],
      views: [
        {
          oid: 3,
          schema: 'public',
          name: 'mv',
          kind: 'm',
          def: 'SELECT 1',
          options: null,
          populated: true,
          indexes: [],
          triggers: [],
        },
      ],
    });
    const plan = planBranch(cat, { withData: false });
    expect(plan.copies).toEqual([]);
    expect(plan.postData[0]?.sql).toBe('CREATE MATERIALIZED VIEW "public"."mv" AS SELECT 1 WITH NO DATA');
  });

  it('creates extensions, domains and composite types before the tables that use them', () => {
    const cat = catalog({
      schemas: ['public', 'app'],
      extensions: [{ name: 'citext', schema: 'public' }],
      domains: [
        {
          schema: 'app',
          name: 'email',
          base: 'public.citext',
          notNull: true,
          default: null,
          collation: null,
          checks: [{ name: 'has_at', def: "CHECK ((VALUE ~ '@'::public.citext))" }],
        },
      ],
      composites: [{ schema: 'app', name: 'money2', attrs: [{ name: 'amount', type: 'numeric(10,2)' }] }],
      functions: [
        {
          schema: 'app',
          name: 'f',
          def: 'CREATE OR REPLACE FUNCTION app.f() RETURNS integer LANGUAGE sql AS $function$ SELECT 1 $function$',
        },
      ],
      tables: [table('app', 'users')],
    });
    expect(planBranch(cat, { withData: false }).preData.map((s) => s.label)).toEqual([
      'schema public',
      'schema app',
      'extension citext',
      'domain app.email',
      'domain app.email constraint has_at',
      'type app.money2',
      'function app.f',
      'table app.users',
    ]);
  });
});

describe('createDatabaseSql', () => {
  it.each([
    [
      { encoding: 'UTF8', collate: 'en_US.UTF-8', ctype: 'en_US.UTF-8', provider: 'c', locale: null },
      `CREATE DATABASE "sy_branch_a" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'en_US.UTF-8' LC_CTYPE 'en_US.UTF-8'`,
    ],
    [
      { encoding: 'UTF8', collate: 'C', ctype: 'C', provider: 'i', locale: 'und-x-icu' },
      `CREATE DATABASE "sy_branch_a" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' LOCALE_PROVIDER icu ICU_LOCALE 'und-x-icu'`,
    ],
    [
      { encoding: 'UTF8', collate: 'C', ctype: 'C', provider: 'b', locale: 'C.UTF-8' },
      `CREATE DATABASE "sy_branch_a" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C.UTF-8'`,
    ],
  ])('keeps the source encoding and locale (%j)', (db, sql) => {
    expect(createDatabaseSql('sy_branch_a', db)).toBe(sql);
  });
});
