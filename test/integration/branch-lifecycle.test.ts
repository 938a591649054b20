import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatabaseConfig } from '../../connector/branches/config.ts';
import { BranchRunner } from '../../connector/branches/runner.ts';
import {
  applyStatus,
  createBranch,
  getBranch,
  markDropSent,
  markPending,
  requestDelete,
} from '../../shared/branches/branches.ts';
import type { BranchStatusReport } from '../../shared/branches/schemas.ts';
import { branchesToSync } from '../../shared/branches/sync.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';

/**
 * The router's branch core and the connector's runner wired back to back, as the WebSocket layer
 * will wire them, against the real servers: create -> sync -> connector -> status -> ready,
 * re-sends after a "restart", delete and expiry -> drop -> deleted.
 */

const PG_SERVER = process.env.SWITCHYARD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432';
const MYSQL_SERVER = process.env.SWITCHYARD_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const OWNER = 'developer:alice';

interface Server {
  type: 'postgres' | 'mysql';
  url: (db: string) => string;
  exec: (db: string, sql: string) => Promise<Record<string, unknown>[]>;
  adminDb: string;
  up: boolean;
}

async function pgExec(db: string, sql: string) {
  const c = new pg.Client({ connectionString: `${PG_SERVER}/${db}`, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    return (await c.query(sql)).rows;
  } finally {
    await c.end();
  }
}

async function mysqlExec(db: string, sql: string) {
  const c = await mysql.createConnection({
    uri: `${MYSQL_SERVER}/${db}`,
    connectTimeout: 3000,
    multipleStatements: true,
  });
  try {
    const [rows] = await c.query(sql);
    return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
  } finally {
    await c.end();
  }
}

async function up(exec: () => Promise<unknown>): Promise<boolean> {
  try {
    await exec();
    return true;
  } catch (err) {
    console.warn(`skipping: ${(err as Error).message}`);
    return false;
  }
}

const servers: Server[] = [
  {
    type: 'postgres',
    url: (db) => `${PG_SERVER}/${db}`,
    exec: pgExec,
    adminDb: 'postgres',
    up: await up(() => pgExec('postgres', 'SELECT 1')),
  },
  {
    type: 'mysql',
    url: (db) => `${MYSQL_SERVER}/${db}`,
    exec: mysqlExec,
    adminDb: 'mysql',
    up: await up(() => mysqlExec('mysql', 'SELECT 1')),
  },
];

describe.each(servers)('branch lifecycle on $type', (server) => {
  const run = randomBytes(4).toString('hex');
  const sourceDb = `sy_it_life_${run}`;
  const databases: DatabaseConfig[] = [
    { name: 'orders', type: server.type, urlEnv: 'ORDERS_URL', appEnv: 'DATABASE_URL' },
  ];
  const store = new MemoryStore();
  const inbox: BranchStatusReport[] = [];
  const runner = new BranchRunner({
    databases,
    env: { ORDERS_URL: server.url(sourceDb) },
    // The WebSocket layer's place: the connector's report goes to the router, which applies it.
    send: async (report) => {
      inbox.push(report);
      await applyStatus(store, report, Date.now());
    },
  });

  /** One reconciler pass: what the router sends to the default cluster's connector. */
  async function syncOnce(now = Date.now()) {
    const { create, drop } = await branchesToSync(store, now, { resendAfterMs: 30_000 });
    const work: Promise<void>[] = [];
    for (const spec of create) {
      work.push(runner.create(spec));
      await markPending(store, spec.id, now);
    }
    for (const spec of drop) {
      work.push(runner.drop(spec));
      await markDropSent(store, spec.id, now);
    }
    await Promise.all(work);
    return { create, drop };
  }

  const exists = async (name: string) =>
    (
      await server.exec(
        server.adminDb,
        server.type === 'postgres'
          ? `SELECT 1 FROM pg_database WHERE datname = '${name}'`
          : `SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '${name}'`,
      )
    ).length > 0;

  beforeAll(async () => {
    if (!server.up) return;
    await server.exec(server.adminDb, `CREATE DATABASE ${sourceDb}`);
    await server.exec(
      sourceDb,
      server.type === 'postgres'
        ? `CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL); INSERT INTO items (label) SELECT 'item ' || g FROM generate_series(1, 25) g`
        : `CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, label VARCHAR(50) NOT NULL); INSERT INTO items (label) VALUES ${Array.from({ length: 25 }, (_, i) => `('item ${i + 1}')`).join(', ')}`,
    );
  });

  afterAll(async () => {
    if (!server.up) return;
    await runner.idle();
    const rows = await server.exec(
      server.adminDb,
      server.type === 'postgres'
        ? `SELECT datname AS name FROM pg_database WHERE datname LIKE 'sy_branch_life${run}%'`
        : `SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'sy_branch_life${run}%'`,
    );
    const drop = (db: string) =>
      server.exec(
        server.adminDb,
        server.type === 'postgres'
          ? `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`
          : `DROP DATABASE IF EXISTS ${db}`,
      );
    for (const r of rows) await drop(String(r.name));
    await drop(sourceDb);
  });

  it.skipIf(!server.up)('creates, serves, re-syncs idempotently and deletes a branch', async () => {
    // Create: written first, sent by the sync, made by the connector, reported back.
    const id = `life${run}-a`;
    const { branch } = await createBranch(store, OWNER, { database: 'orders', id }, Date.now());
    expect(branch.phase).toBe('init');
    const first = await syncOnce();
    expect(first.create.map((s) => s.id)).toEqual([id]);
    const ready = await getBranch(store, OWNER, id);
    expect(ready.phase).toBe('ready');
    expect(ready.progress).toMatchObject({ percent: 100, rowsCopied: 25 });

    // The app's env points at the branch, which holds the rows and takes writes of its own.
    const env = runner.branchEnv('orders', ready.name);
    expect(new URL(env.DATABASE_URL!).pathname).toBe(`/${ready.name}`);
    await server.exec(ready.name, `INSERT INTO items (label) VALUES ('only in the branch')`);
    expect((await server.exec(sourceDb, 'SELECT count(*) AS n FROM items'))[0]?.n).toEqual(
      server.type === 'postgres' ? '25' : 25,
    );

    // A router restart re-sends nothing for a ready branch; a forced re-send is harmless.
    expect((await syncOnce()).create).toEqual([]);
    await runner.create({
      id,
      database: 'orders',
      name: ready.name,
      mode: 'all',
      generation: inbox.at(-1)?.generation,
    });
    expect(inbox.at(-1)?.progress?.message).toBe('ready (it already existed)');
    expect(Number((await server.exec(ready.name, 'SELECT count(*) AS n FROM items'))[0]?.n)).toBe(26);

    // Delete: deleting -> drop -> deleted, and the database is gone.
    await requestDelete(store, OWNER, id, Date.now());
    const second = await syncOnce();
    expect(second.drop.map((s) => s.id)).toEqual([id]);
    expect((await getBranch(store, OWNER, id)).phase).toBe('deleted');
    expect(await exists(ready.name)).toBe(false);
  });

  it.skipIf(!server.up)('drops a branch whose TTL ran out', async () => {
    const id = `life${run}-ttl`;
    const t0 = Date.now();
    const { branch } = await createBranch(
      store,
      OWNER,
      { database: 'orders', id, ttlSecs: 60, mode: 'schema' },
      t0,
    );
    await syncOnce(t0);
    expect((await getBranch(store, OWNER, id)).phase).toBe('ready');
    expect(await exists(branch.name)).toBe(true);
    const later = t0 + 61_000;
    const swept = await syncOnce(later);
    expect(swept.drop.map((s) => s.id)).toEqual([id]);
    expect((await getBranch(store, OWNER, id, later)).phase).toBe('deleted');
    expect(await exists(branch.name)).toBe(false);
  });

  it.skipIf(!server.up)('reports a missing source database as a failed branch, in words', async () => {
    const failing = new BranchRunner({
      databases,
      env: { ORDERS_URL: server.url(`sy_it_nowhere_${run}`) },
      send: (report) => applyStatus(store, report, Date.now()).then(() => {}),
    });
    const id = `life${run}-missing`;
    await createBranch(store, OWNER, { database: 'orders', id }, Date.now());
    const { create } = await branchesToSync(store, Date.now());
    await failing.create(create.find((s) => s.id === id));
    const b = await getBranch(store, OWNER, id);
    expect(b.phase).toBe('failed');
    expect(b.error).toEqual({
      code: 'source_not_found',
      message: `source database 'sy_it_nowhere_${run}' does not exist on 127.0.0.1:${server.type === 'postgres' ? 5432 : 3306}`,
    });
  });
});
