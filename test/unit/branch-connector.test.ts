import { describe, expect, it } from 'vitest';
import {
  collectDatabases,
  type DatabaseConfig,
  DatabaseConfigSchema,
  findDatabase,
  sourceUrl,
} from '../../connector/branches/config.ts';
import {
  assertBranchName,
  type BranchEngine,
  type BranchSource,
  type CreateOutcome,
  type ProgressFn,
  parseMarker,
} from '../../connector/branches/engine.ts';
import {
  BranchAbortedError,
  BranchConfigError,
  BranchNameError,
  InvalidDatabaseUrlError,
  SourceNotFoundError,
} from '../../connector/branches/errors.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { qid, stripDefiner } from '../../connector/branches/mysql/mysql-engine.ts';
import { BranchRunner } from '../../connector/branches/runner.ts';
import { branchUrl, parseDatabaseUrl } from '../../connector/branches/url.ts';
import type { Connector } from '../../connector/connector.ts';
import {
  type BranchSpec,
  type BranchStatusReport,
  BranchStatusReportSchema,
} from '../../shared/branches/schemas.ts';
import { ValidationError } from '../../shared/errors/errors.ts';

// Factories

const ORDERS: DatabaseConfig = {
  name: 'orders',
  type: 'postgres',
  url: 'postgres://app:s3cret@db.internal:5432/orders?sslmode=require',
  appEnv: 'DATABASE_URL',
};

function spec(over: Partial<BranchSpec> = {}): BranchSpec {
  return { id: 'feat', database: 'orders', name: 'sy_branch_feat', mode: 'all', generation: 'g1', ...over };
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An engine whose creates finish when the test says so, and which honours the abort signal. */
class FakeEngine implements BranchEngine {
  readonly type = 'postgres' as const;
  calls: string[] = [];
  creates: {
    spec: BranchSpec;
    onProgress: ProgressFn;
    finish: (o?: Partial<CreateOutcome>) => void;
    fail: (e: unknown) => void;
  }[] = [];
  dropError: unknown;

  create(
    s: BranchSpec,
    _source: BranchSource,
    onProgress: ProgressFn,
    signal?: AbortSignal,
  ): Promise<CreateOutcome> {
    this.calls.push(`create ${s.id} ${s.generation} ${s.mode}`);
    const d = deferred<CreateOutcome>();
    signal?.addEventListener('abort', () => d.reject(new BranchAbortedError(s.name)));
    this.creates.push({
      spec: s,
      onProgress,
      finish: (o) => d.resolve({ result: 'created', tables: 3, rows: 42, ms: 1500, ...o }),
      fail: d.reject,
    });
    return d.promise;
  }
  async drop(_source: BranchSource, name: string): Promise<'dropped' | 'absent'> {
    this.calls.push(`drop ${name}`);
    if (this.dropError) throw this.dropError;
    return 'dropped';
  }
  async exists() {
    return { state: 'absent' as const };
  }
  branchUrl(sourceUrl: string, name: string): string {
    return branchUrl(sourceUrl, name);
  }
}

function runner(
  opts: { databases?: DatabaseConfig[]; env?: Record<string, string>; progressEveryMs?: number } = {},
) {
  const engine = new FakeEngine();
  const reports: BranchStatusReport[] = [];
  const r = new BranchRunner({
    databases: opts.databases ?? [ORDERS],
    env: opts.env ?? {},
    send: (report) => {
      reports.push(BranchStatusReportSchema.parse(report));
    },
    engines: { postgres: engine, mysql: engine },
    progressEveryMs: opts.progressEveryMs ?? 0,
  });
  return { r, engine, reports };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('database config', () => {
  it.each([
    [{ name: 'orders', type: 'postgres', url: 'postgres://h/db', appEnv: 'DATABASE_URL' }, true],
    [{ name: 'orders', type: 'mysql', urlEnv: 'ORDERS_URL', appEnv: 'DATABASE_URL', mode: 'schema' }, true],
    [{ name: 'orders', type: 'postgres', appEnv: 'DATABASE_URL' }, false],
    [
      { name: 'orders', type: 'postgres', url: 'postgres://h/db', urlEnv: 'X', appEnv: 'DATABASE_URL' },
      false,
    ],
    [{ name: 'orders', type: 'oracle', url: 'x', appEnv: 'DATABASE_URL' }, false],
    [{ name: 'orders', type: 'postgres', url: 'x', appEnv: 'DATABASE-URL' }, false],
    [{ name: 'or ders', type: 'postgres', url: 'x', appEnv: 'A' }, false],
    [{ name: 'orders', type: 'postgres', url: 'x', appEnv: 'A', extra: true }, false],
  ])('%j -> valid %s', (input, valid) => {
    expect(DatabaseConfigSchema.safeParse(input).success).toBe(valid);
  });

  it('collects databases across services and names every problem with its place', () => {
    const dbs = collectDatabases([
      { name: 'api', databases: [ORDERS] },
      { name: 'billing', databases: [{ ...ORDERS, name: 'billing', type: 'mysql' }] },
    ]);
    expect(dbs.map((d) => d.name)).toEqual(['orders', 'billing']);
    const err = (() => {
      try {
        collectDatabases([
          { name: 'api', databases: [ORDERS, { name: 'x', type: 'postgres', appEnv: 'A' }] },
          { name: 'worker', databases: [ORDERS] },
        ]);
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(BranchConfigError);
    expect(err?.message).toContain('services[api].databases[1]');
    expect(err?.message).toContain('exactly one of "url" or "urlEnv"');
    expect(err?.message).toContain("database 'orders' is declared twice");
  });

  it('finds a database or lists the declared ones', () => {
    expect(findDatabase([ORDERS], 'orders')).toBe(ORDERS);
    expect(() => findDatabase([ORDERS], 'users')).toThrow(
      "database 'users' is not declared in this connector's config (declared: orders)",
    );
  });

  it('reads the URL from the connector environment and says which variable is missing', () => {
    const db: DatabaseConfig = {
      name: 'orders',
      type: 'postgres',
      urlEnv: 'ORDERS_URL',
      appEnv: 'DATABASE_URL',
    };
    expect(sourceUrl(db, { ORDERS_URL: 'postgres://h/o' })).toBe('postgres://h/o');
    expect(() => sourceUrl(db, {})).toThrow(/environment variable ORDERS_URL, which is not set/);
  });
});

describe('database URLs', () => {
  it.each([
    ['postgres://u:p@db:6543/orders', 'postgres', 'db:6543', 'orders'],
    ['postgresql://db/orders?sslmode=require', 'postgres', 'db:5432', 'orders'],
    ['mysql://root@127.0.0.1/shop', 'mysql', '127.0.0.1:3306', 'shop'],
    ['mariadb://root@m:3307/my%20db', 'mysql', 'm:3307', 'my db'],
  ] as const)('%s -> %s %s', (url, type, where, database) => {
    expect(parseDatabaseUrl(url, type, 'x')).toMatchObject({ where, database });
  });

  it.each([
    ['not a url', 'postgres', /is not a valid URL/],
    ['mysql://h/db', 'postgres', /starts with 'mysql:\/\/' but a postgres URL is expected/],
    ['postgres://h/', 'postgres', /must name exactly one database/],
    ['postgres://h/a/b', 'postgres', /must name exactly one database/],
    ['postgres://u:topsecret@h:5432', 'postgres', /must name exactly one database/],
  ] as const)('rejects %s in words, without echoing the URL', (url, type, message) => {
    const err = (() => {
      try {
        parseDatabaseUrl(url, type, 'orders');
      } catch (e) {
        return e as Error;
      }
    })();
    expect(err).toBeInstanceOf(InvalidDatabaseUrlError);
    expect(err?.message).toMatch(message);
    expect(err?.message).toMatch(/^the URL of database 'orders'/);
    expect(err?.message).not.toContain('topsecret');
  });

  it('gives the branch the same server, credentials and options', () => {
    expect(branchUrl(ORDERS.url!, 'sy_branch_feat')).toBe(
      'postgres://app:s3cret@db.internal:5432/sy_branch_feat?sslmode=require',
    );
  });
});

describe('engine guards and helpers', () => {
  it.each(['orders', 'postgres', 'sy_branch_', 'sy_branch_X', 'sy_branch_a;drop database x'])(
    'refuses %s as a branch name',
    (name) => {
      expect(() => assertBranchName(name)).toThrow(BranchNameError);
    },
  );

  it('refuses a branch name equal to the source database', () => {
    expect(() => assertBranchName('sy_branch_a', 'sy_branch_a')).toThrow(/source database's own name/);
    expect(() => assertBranchName('sy_branch_a', 'orders')).not.toThrow();
  });

  it('reads only its own markers', () => {
    expect(
      parseMarker('{"switchyard":"branch","id":"a","state":"complete","source":"s","at":"t"}'),
    ).toMatchObject({
      id: 'a',
      state: 'complete',
    });
    expect(parseMarker('a comment written by someone')).toBeUndefined();
    expect(parseMarker('{"id":"a"}')).toBeUndefined();
    expect(parseMarker(null)).toBeUndefined();
  });

  it.each([
    [
      'CREATE ALGORITHM=UNDEFINED DEFINER=`root`@`%` SQL SECURITY DEFINER VIEW `v` AS select 1',
      'CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `v` AS select 1',
    ],
    [
      'CREATE DEFINER=`a``b`@`10.0.0.1` trigger t before insert on p for each row set new.x = 1',
      'CREATE trigger t before insert on p for each row set new.x = 1',
    ],
    [
      "CREATE DEFINER='app'@'localhost' VIEW v AS select 'DEFINER=`x`@`y`'",
      "CREATE VIEW v AS select 'DEFINER=`x`@`y`'",
    ],
    ['CREATE VIEW v AS select 1', 'CREATE VIEW v AS select 1'],
  ])('strips the DEFINER of %s', (input, expected) => {
    expect(stripDefiner(input)).toBe(expected);
  });

  it('quotes MySQL identifiers', () => {
    expect(qid('a`b')).toBe('`a``b`');
    expect(qid('plain')).toBe('`plain`');
  });
});

describe('BranchRunner', () => {
  it('reports pending progress, then ready with a summary', async () => {
    // Prepare
    const { r, engine, reports } = runner();
    // Act
    const done = r.create(spec());
    await tick();
    engine.creates[0]!.onProgress({ message: 'copied table a', percent: 40, tablesDone: 1, tablesTotal: 3 });
    engine.creates[0]!.finish();
    await done;
    // Assess
    expect(reports.map((x) => x.phase)).toEqual(['pending', 'pending', 'ready']);
    expect(reports.every((x) => x.generation === 'g1' && x.id === 'feat')).toBe(true);
    expect(reports.at(-1)?.progress).toEqual({
      message: 'ready: 3 tables, 42 rows copied in 1.5 s',
      percent: 100,
      tablesDone: 3,
      tablesTotal: 3,
      rowsCopied: 42,
    });
  });

  it('runs a repeated create only once and re-reports its progress', async () => {
    const { r, engine, reports } = runner();
    const first = r.create(spec());
    await tick();
    engine.creates[0]!.onProgress({ percent: 50 });
    const before = reports.length;
    const second = r.create(spec());
    await tick();
    expect(engine.calls).toEqual(['create feat g1 all']);
    expect(reports.length).toBe(before + 1);
    expect(reports.at(-1)?.progress?.percent).toBe(50);
    engine.creates[0]!.finish();
    await Promise.all([first, second]);
    expect(reports.filter((x) => x.phase === 'ready')).toHaveLength(1);
  });

  it('abandons a create of an older generation for the newer one, silently', async () => {
    const { r, engine, reports } = runner();
    const old = r.create(spec({ generation: 'g1' }));
    await tick();
    const fresh = r.create(spec({ generation: 'g2' }));
    await old;
    await tick();
    engine.creates[1]!.finish();
    await fresh;
    expect(engine.calls).toEqual(['create feat g1 all', 'create feat g2 all']);
    expect(reports.filter((x) => x.phase !== 'pending')).toEqual([
      expect.objectContaining({ phase: 'ready', generation: 'g2' }),
    ]);
    expect(reports.some((x) => x.phase === 'failed')).toBe(false);
  });

  it('stops a running create before dropping, and reports deleted', async () => {
    const { r, engine, reports } = runner();
    const creating = r.create(spec());
    await tick();
    await r.drop({ id: 'feat', database: 'orders', name: 'sy_branch_feat', generation: 'g1' });
    await creating;
    expect(engine.calls).toEqual(['create feat g1 all', 'drop sy_branch_feat']);
    expect(reports.at(-1)).toEqual({ id: 'feat', generation: 'g1', phase: 'deleted' });
    expect(reports.some((x) => x.phase === 'ready' || x.phase === 'failed')).toBe(false);
  });

  it.each([
    [
      'an undeclared database',
      { database: 'users' },
      {},
      'branch_config',
      /database 'users' is not declared.*declared: orders/,
    ],
    [
      'a URL variable that is not set',
      {},
      { databases: [{ ...ORDERS, url: undefined, urlEnv: 'ORDERS_URL' }] },
      'branch_config',
      /ORDERS_URL, which is not set/,
    ],
  ])('fails a create for %s, in words', async (_what, over, opts, code, message) => {
    const { r, engine, reports } = runner(opts as { databases?: DatabaseConfig[] });
    await r.create(spec(over));
    expect(engine.calls).toEqual([]);
    const failed = reports.at(-1);
    expect(failed?.phase).toBe('failed');
    expect(failed?.error?.code).toBe(code);
    expect(failed?.error?.message).toMatch(message);
  });

  it("passes the engine's error on", async () => {
    const { r, engine, reports } = runner();
    const done = r.create(spec());
    await tick();
    engine.creates[0]!.fail(
      new SourceNotFoundError("source database 'orders' does not exist on db.internal:5432"),
    );
    await done;
    expect(reports.at(-1)).toMatchObject({
      phase: 'failed',
      error: {
        code: 'source_not_found',
        message: "source database 'orders' does not exist on db.internal:5432",
      },
    });
  });

  it('never copies rows of a database configured schema-only', async () => {
    const { r, engine } = runner({ databases: [{ ...ORDERS, mode: 'schema' }] });
    const done = r.create(spec({ mode: 'all' }));
    await tick();
    engine.creates[0]!.finish();
    await done;
    expect(engine.calls).toEqual(['create feat g1 schema']);
  });

  it('throttles progress reports', async () => {
    const { r, engine, reports } = runner({ progressEveryMs: 60_000 });
    const done = r.create(spec());
    await tick();
    for (let i = 1; i <= 50; i++) engine.creates[0]!.onProgress({ percent: i });
    engine.creates[0]!.finish();
    await done;
    expect(reports.map((x) => x.phase)).toEqual(['pending', 'ready']);
  });

  it('rejects a malformed message without touching anything', () => {
    const { r, engine } = runner();
    expect(() => r.create({ ...spec(), name: 'orders' })).toThrow(ValidationError);
    expect(() => r.drop({ id: 'feat', database: 'orders' })).toThrow(ValidationError);
    expect(engine.calls).toEqual([]);
  });

  it('reports a failed drop, and survives a failed send', async () => {
    const engine = new FakeEngine();
    engine.dropError = new Error('permission denied to drop database');
    const logged: string[] = [];
    const r = new BranchRunner({
      databases: [ORDERS],
      env: {},
      send: () => {
        throw new Error('socket closed');
      },
      engines: { postgres: engine },
      log: (m) => logged.push(m),
    });
    await r.drop({ id: 'feat', database: 'orders', name: 'sy_branch_feat' });
    expect(logged).toEqual(['branch drop failed', 'could not send branch.status']);
  });

  it('gives the application its env var pointing at the branch', () => {
    const { r } = runner();
    expect(r.branchEnv('orders', 'sy_branch_feat')).toEqual({
      DATABASE_URL: 'postgres://app:s3cret@db.internal:5432/sy_branch_feat?sslmode=require',
    });
    expect(() => r.branchEnv('orders', 'orders')).toThrow(BranchNameError);
  });
});

describe('branchExtension', () => {
  function fakeConnector(connected = true) {
    const sent: Record<string, unknown>[] = [];
    const c = {
      send: (m: Record<string, unknown>) => {
        if (connected) sent.push(m);
        return connected;
      },
    } as unknown as Connector;
    return { c, sent };
  }

  it('runs branch.create from a message with its envelope and answers branch.status', async () => {
    // Prepare
    const engine = new FakeEngine();
    const ext = branchExtension({ databases: [ORDERS], env: {}, engines: { postgres: engine } });
    const { c, sent } = fakeConnector();
    ext.onOpen?.(c);
    // Act
    await ext.handle({ v: 1, type: 'branch.create', reqId: 'r1', ...spec() }, c);
    await tick();
    engine.creates[0]!.finish();
    await ext.runner.idle();
    // Assess
    expect(ext.types).toEqual(['branch.create', 'branch.delete']);
    expect(sent.map((m) => [m.type, m.phase])).toEqual([
      ['branch.status', 'pending'],
      ['branch.status', 'ready'],
    ]);
    expect(sent[1]).toMatchObject({ id: 'feat', generation: 'g1' });
  });

  it('logs an invalid message and a report it could not send, without throwing', async () => {
    const engine = new FakeEngine();
    const lines: Record<string, unknown>[] = [];
    const ext = branchExtension({
      databases: [ORDERS],
      env: {},
      engines: { postgres: engine },
      log: (l) => lines.push(l),
    });
    const { c } = fakeConnector(false);
    await ext.handle({ v: 1, type: 'branch.delete', id: 'feat' }, c);
    await ext.handle(
      { v: 1, type: 'branch.delete', id: 'feat', database: 'orders', name: 'sy_branch_feat' },
      c,
    );
    await ext.runner.idle();
    expect(lines.map((l) => l.message)).toEqual(['invalid branch message', 'could not send branch.status']);
    expect(engine.calls).toEqual(['drop sy_branch_feat']);
  });

  it('abandons creates in progress on stop, reporting nothing for them', async () => {
    const engine = new FakeEngine();
    const ext = branchExtension({ databases: [ORDERS], env: {}, engines: { postgres: engine } });
    const { c, sent } = fakeConnector();
    await ext.handle({ v: 1, type: 'branch.create', ...spec() }, c);
    await tick();
    await ext.stop?.();
    expect(sent.map((m) => m.phase)).toEqual(['pending']);
  });

  it('gives a session the env of all its branches', () => {
    const ext = branchExtension({
      databases: [
        ORDERS,
        { name: 'users', type: 'mysql', url: 'mysql://root@m:3306/users', appEnv: 'USERS_URL' },
      ],
    });
    expect(
      ext.runner.envForBranches([
        { database: 'orders', name: 'sy_branch_a' },
        { database: 'users', name: 'sy_branch_b' },
      ]),
    ).toEqual({
      DATABASE_URL: 'postgres://app:s3cret@db.internal:5432/sy_branch_a?sslmode=require',
      USERS_URL: 'mysql://root@m:3306/sy_branch_b',
    });
  });
});
