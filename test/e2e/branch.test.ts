import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { eventually, startTestRuntime, type TestRuntime } from '../helpers/local-runtime.ts';
import { api, cli, startCluster, type TestCluster } from './harness.ts';

/**
 * Database branching through the router, as a developer uses it: the CLI asks the router, the
 * router's sync controller tells the default cluster's connector, which branches the real
 * PostgreSQL database; status comes back the same way.
 */
const PG = `postgres://${process.env.PGUSER ?? 'postgres'}@127.0.0.1:5432`;
const SOURCE = `sy_e2e_src_${randomBytes(3).toString('hex')}`;
const TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    { id: 'east', roles: ['primary', 'workload', 'default'] },
    { id: 'west', roles: ['workload'] },
  ],
};

let reachable = true;
let runtime: TestRuntime;
let east: TestCluster;
let west: TestCluster;
const created: string[] = [];

async function sql<T extends pg.QueryResultRow>(db: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: `${PG}/${db}` });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

const databaseExists = async (name: string) =>
  (await sql('postgres', `SELECT 1 FROM pg_database WHERE datname = '${name}'`)).length === 1;

beforeAll(async () => {
  try {
    await sql('postgres', `CREATE DATABASE ${SOURCE}`);
  } catch (err) {
    reachable = false;
    console.warn(
      `PostgreSQL is not reachable on 127.0.0.1:5432 (${(err as Error).message}): branch e2e tests skipped`,
    );
    return;
  }
  await sql(SOURCE, 'CREATE TABLE orders (id serial PRIMARY KEY, item text NOT NULL)');
  await sql(SOURCE, "INSERT INTO orders (item) SELECT 'item-' || g FROM generate_series(1, 500) g");
  runtime = await startTestRuntime({ topology: TOPOLOGY, settings: { reconcileEveryMs: 300 } });
  const databases = [{ name: 'orders', type: 'postgres', url: `${PG}/${SOURCE}`, appEnv: 'DATABASE_URL' }];
  east = await startCluster(runtime, 'east', {}, databases);
  west = await startCluster(runtime, 'west');
});

afterAll(async () => {
  for (const c of [east, west]) {
    if (!c) continue;
    await c.connector.stop();
    c.upstream.close();
  }
  await runtime?.stop();
  if (reachable) {
    for (const db of [...created, SOURCE])
      await sql('postgres', `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
  }
});

describe('database branches through the router', () => {
  it('creates a branch with the rows while the source has an open connection, and exec points the app at it', async (ctx) => {
    if (!reachable) ctx.skip();
    const holder = new pg.Client({ connectionString: `${PG}/${SOURCE}` });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query("INSERT INTO orders (item) VALUES ('uncommitted')");
    try {
      const create = cli(runtime, ['branch', 'create', 'orders', '--id', 'feat-a', '--ttl', '10m']);
      expect(await create.exited, create.stderr()).toBe(0);
      created.push('sy_branch_feat_a');
      expect(create.stdout()).toContain('sy_branch_feat_a');
      expect(create.stderr()).toContain('ready');
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    expect(await sql('sy_branch_feat_a', 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 500 }]);

    const exec = cli(runtime, [
      'exec',
      'api',
      '--quiet',
      '--branch',
      'feat-a',
      '--',
      process.execPath,
      '-e',
      'console.log(process.env.DATABASE_URL)',
    ]);
    expect(await exec.exited, exec.stderr()).toBe(0);
    expect(exec.stdout().trim()).toBe(`${PG}/sy_branch_feat_a`);

    // Writes to the branch stay there.
    await sql('sy_branch_feat_a', "INSERT INTO orders (item) VALUES ('only in the branch')");
    expect(
      await sql(SOURCE, "SELECT count(*)::int AS n FROM orders WHERE item = 'only in the branch'"),
    ).toEqual([{ n: 0 }]);
  });

  it('reuses a live branch by id instead of creating another', async (ctx) => {
    if (!reachable) ctx.skip();
    const again = cli(runtime, ['branch', 'create', 'orders', '--id', 'feat-a']);
    expect(await again.exited).toBe(0);
    // The write made in the branch is still there: it was not re-created.
    expect(
      await sql(
        'sy_branch_feat_a',
        "SELECT count(*)::int AS n FROM orders WHERE item = 'only in the branch'",
      ),
    ).toEqual([{ n: 1 }]);
    const list = cli(runtime, ['branch', 'list', '--json']);
    expect(await list.exited).toBe(0);
    expect((JSON.parse(list.stdout()) as { id: string }[]).filter((b) => b.id === 'feat-a')).toHaveLength(1);
  });

  it('keeps a branch pending while the default cluster is away, and finishes it when it returns', async (ctx) => {
    if (!reachable) ctx.skip();
    await east.connector.stop();
    const { status, body } = await api(runtime, 'POST', '/v1/branches', { database: 'orders', id: 'feat-b' });
    created.push('sy_branch_feat_b');
    expect(status).toBe(202);
    expect(['init', 'pending']).toContain(body.phase);
    await new Promise((r) => setTimeout(r, 500));
    expect(['init', 'pending']).toContain((await api(runtime, 'GET', '/v1/branches/feat-b')).body.phase);

    await east.restart();
    await eventually(
      async () => (await api(runtime, 'GET', '/v1/branches/feat-b')).body.phase === 'ready',
      20_000,
      'feat-b ready',
    );
    expect(await databaseExists('sy_branch_feat_b')).toBe(true);
  });

  it('drops a branch at expiry (the reconciler) and on delete', async (ctx) => {
    if (!reachable) ctx.skip();
    // Expire feat-b now, as if its TTL had passed.
    const store = new DynamoDbStore(
      new DynamoDBClient({
        region: runtime.region,
        endpoint: runtime.dynamodbEndpoint,
        credentials: { accessKeyId: 'l', secretAccessKey: 'l' },
      }),
      runtime.tableName,
    );
    await store.update(keys.branch('feat-b'), { expireAt: Date.now() - 1000 });
    await eventually(
      async () => !(await databaseExists('sy_branch_feat_b')),
      20_000,
      'the expired branch to be dropped',
    );

    const del = cli(runtime, ['branch', 'delete', 'feat-a']);
    expect(await del.exited).toBe(0);
    await eventually(
      async () => !(await databaseExists('sy_branch_feat_a')),
      20_000,
      'the deleted branch to be dropped',
    );
    expect(await databaseExists(SOURCE)).toBe(true);
  });

  it('fails a branch of an unknown database with a clear error', async (ctx) => {
    if (!reachable) ctx.skip();
    const bad = cli(runtime, ['branch', 'create', 'inventory', '--id', 'feat-c']);
    expect(await bad.exited).not.toBe(0);
    expect(bad.stderr()).toMatch(/inventory/);
    expect(bad.stderr()).toMatch(/failed/);
  });
});
