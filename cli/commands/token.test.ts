import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { authenticate, hashToken } from '../../shared/auth/tokens.ts';
import { NotFoundError, UnauthorizedError, ValidationError } from '../../shared/errors/errors.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { type LocalDynamo, startDynalite } from '../../test/helpers/dynalite.ts';
import { registerToken, TokenStoreError } from './token.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const TABLE = 'switchyard-test';
const TOKEN_SHAPE = /^sy_(dev|cl)_[A-Za-z0-9_-]{43}$/;

let dynamo: LocalDynamo;
let store: DynamoDbStore;
let dir: string;

/** Runs `switchyard token ...` in process, capturing what it prints. */
async function token(...args: string[]): Promise<{ out: string; err: string }> {
  const program = new Command().exitOverride().enablePositionalOptions();
  program.configureOutput({ writeErr: () => {}, writeOut: () => {} });
  const out: string[] = [];
  const err: string[] = [];
  registerToken(program, { out: (t) => out.push(t), err: (t) => err.push(t) });
  await program.parseAsync(['node', 'switchyard', 'token', ...args]);
  return { out: out.join(''), err: err.join('') };
}

/** The deployed-table path, pointed at dynalite. */
const aws = (...args: string[]) =>
  token(...args, '--table', TABLE, '--region', 'us-east-1', '--endpoint', dynamo.endpoint);

function localState(content: unknown): string {
  const file = join(dir, `local-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify(content));
  return file;
}

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureTable(dynamo.client, TABLE);
  store = new DynamoDbStore(dynamo.client, TABLE);
  dir = mkdtempSync(join(tmpdir(), 'switchyard-token-'));
});
afterAll(() => dynamo.stop());

beforeEach(() => {
  vi.stubEnv('SWITCHYARD_TABLE', undefined);
  vi.stubEnv('SWITCHYARD_STATE_FILE', join(dir, 'absent.json'));
  vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
});
afterEach(() => vi.unstubAllEnvs());

describe('switchyard token create', () => {
  it('prints a developer token once; the table holds only its hash, and it authenticates', async () => {
    const { out, err } = await aws('create', '--developer', 'alice@example.com');
    const value = out.trim();
    expect(value).toMatch(TOKEN_SHAPE);
    expect(out).toBe(`${value}\n`);
    expect(err).toContain(`developer:alice@example.com (hash ${hashToken(value).slice(0, 12)})`);
    expect(err).not.toContain(value);
    const item = await store.get(keys.token(hashToken(value)));
    expect(JSON.stringify(item)).not.toContain(value);
    expect(await authenticate(store, value)).toEqual({ type: 'developer', id: 'alice@example.com' });
  });

  it("uses the local router's table from its state file when no table is given", async () => {
    vi.stubEnv(
      'SWITCHYARD_STATE_FILE',
      localState({ dynamodb: { endpoint: dynamo.endpoint, table: TABLE } }),
    );
    vi.stubEnv('AWS_ACCESS_KEY_ID', undefined);
    const { out, err } = await token('create', '--cluster', 'west');
    expect(out.trim()).toMatch(/^sy_cl_/);
    expect(err).toContain(`the local router's table ${TABLE}`);
    expect(await authenticate(store, out.trim())).toEqual({ type: 'cluster', clusterId: 'west' });
  });

  it('prefers SWITCHYARD_TABLE over the local state file', async () => {
    vi.stubEnv(
      'SWITCHYARD_STATE_FILE',
      localState({ dynamodb: { endpoint: 'http://127.0.0.1:1', table: 'other' } }),
    );
    vi.stubEnv('SWITCHYARD_TABLE', TABLE);
    const { err } = await token(
      'create',
      '--cluster',
      'east',
      '--region',
      'us-east-1',
      '--endpoint',
      dynamo.endpoint,
    );
    expect(err).toContain(`in table ${TABLE}`);
  });

  it.each([
    [[], ValidationError, /--developer <id> or --cluster <id>/],
    [['--cluster', 'East_1'], ValidationError, /--cluster 'East_1'/],
    [['--developer', 'bad id'], ValidationError, /--developer 'bad id'/],
    [['--developer', 'a', '--cluster', 'b'], CommanderError, /cannot be used with/],
  ])('refuses %j', async (args, type, message) => {
    const run = aws('create', ...args);
    await expect(run).rejects.toBeInstanceOf(type);
    await expect(aws('create', ...args)).rejects.toThrow(message);
  });
});

describe('switchyard token list', () => {
  it('shows principals, creation dates and hash prefixes, never a token', async () => {
    const dev = (await aws('create', '--developer', 'bob')).out.trim();
    const cluster = (await aws('create', '--cluster', 'east')).out.trim();
    const { out } = await aws('list');
    expect(out.split('\n')[0]).toMatch(/^HASH\s+PRINCIPAL\s+CREATED$/);
    for (const [value, principal] of [
      [dev, 'developer:bob'],
      [cluster, 'cluster:east'],
    ] as const) {
      expect(out).not.toContain(value);
      expect(out).not.toContain(hashToken(value));
      expect(out).toMatch(
        new RegExp(`^${hashToken(value).slice(0, 12)}\\s+${principal}\\s+\\d{4}-\\d\\d-\\d\\dT`, 'm'),
      );
    }
    const rows = JSON.parse((await aws('list', '--json')).out) as { hash: string; principal: string }[];
    expect(rows).toContainEqual(
      expect.objectContaining({ hash: hashToken(dev).slice(0, 12), principal: 'developer:bob' }),
    );
  });
});

describe('switchyard token revoke', () => {
  it('revokes by token: it no longer authenticates, and a second revoke is an error', async () => {
    const value = (await aws('create', '--developer', 'carol')).out.trim();
    const { err } = await aws('revoke', value);
    expect(err).toContain('revoked the token of developer:carol');
    expect(err).not.toContain(value);
    await expect(authenticate(store, value)).rejects.toBeInstanceOf(UnauthorizedError);
    await expect(aws('revoke', value)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('revokes by the hash prefix list shows, for a token nobody kept', async () => {
    const value = (await aws('create', '--cluster', 'lost')).out.trim();
    await aws('revoke', '--hash', hashToken(value).slice(0, 12));
    await expect(authenticate(store, value)).rejects.toBeInstanceOf(UnauthorizedError);
  });

  it.each([
    [[], /either the token/],
    [['sy_dev_x', '--hash', 'abcdef01'], /either the token/],
    [['--hash', 'abc'], /at least 8 hex digits/],
    [['--hash', 'ffffffffffff'], /not found/],
  ])('refuses %j', async (args, message) => {
    await expect(aws('revoke', ...args)).rejects.toThrow(message);
  });
});

describe('target errors', () => {
  const code = async (run: Promise<unknown>) => {
    const err = await run.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenStoreError);
    return (err as TokenStoreError).code;
  };

  it('says how to name a table when there is none', async () => {
    expect(await code(token('list'))).toBe('no_table');
    await expect(token('list')).rejects.toThrow(/--table <name>.*SWITCHYARD_TABLE.*npm start/);
  });

  it('names a missing table and its region', async () => {
    const run = () =>
      token('list', '--table', 'nope', '--region', 'eu-west-1', '--endpoint', dynamo.endpoint);
    expect(await code(run())).toBe('table_not_found');
    await expect(run()).rejects.toThrow(/table nope in eu-west-1 does not exist/);
  });

  it('says there are no credentials, without trying the network for them', async () => {
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE']) {
      vi.stubEnv(name, undefined);
    }
    vi.stubEnv('AWS_SHARED_CREDENTIALS_FILE', join(dir, 'no-credentials'));
    vi.stubEnv('AWS_CONFIG_FILE', join(dir, 'no-config'));
    vi.stubEnv('AWS_EC2_METADATA_DISABLED', 'true');
    const run = () => token('list', '--table', TABLE, '--region', 'us-east-1', '--endpoint', dynamo.endpoint);
    expect(await code(run())).toBe('no_credentials');
    await expect(run()).rejects.toThrow(/no AWS credentials for table switchyard-test in us-east-1/);
  });

  it('says the local router is not running', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise<void>((r) => server.close(() => r()));
    vi.stubEnv(
      'SWITCHYARD_STATE_FILE',
      localState({ dynamodb: { endpoint: `http://127.0.0.1:${port}`, table: TABLE } }),
    );
    expect(await code(token('list'))).toBe('store_unreachable');
  });
});

describe('the switchyard command', () => {
  // Asynchronous: dynalite answers from this very process, so its event loop must keep running.
  const cli = (args: string[], env: Record<string, string>, stdin = '') =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(ROOT, 'bin/switchyard.js'), 'token', ...args], {
        cwd: dir,
        env: { ...process.env, SWITCHYARD_TABLE: '', ...env },
      });
      child.stdin.end(stdin);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => {
        stdout += d;
      });
      child.stderr.on('data', (d) => {
        stderr += d;
      });
      child.on('close', (status) => done({ status, stdout, stderr }));
    });

  it('creates and revokes (token from stdin) through bin/switchyard.js, and fails cleanly without a table', async () => {
    const state = localState({ dynamodb: { endpoint: dynamo.endpoint, table: TABLE } });
    const created = await cli(['create', '--cluster', 'east'], { SWITCHYARD_STATE_FILE: state });
    expect(created.status).toBe(0);
    const value = created.stdout.trim();
    expect(value).toMatch(TOKEN_SHAPE);
    expect(await authenticate(store, value)).toEqual({ type: 'cluster', clusterId: 'east' });

    const revoked = await cli(['revoke', '-'], { SWITCHYARD_STATE_FILE: state }, `${value}\n`);
    expect(revoked.status).toBe(0);
    await expect(authenticate(store, value)).rejects.toBeInstanceOf(UnauthorizedError);

    const failed = await cli(['list'], { SWITCHYARD_STATE_FILE: join(dir, 'absent.json') });
    expect(failed.status).toBe(1);
    expect(failed.stderr).toMatch(/^switchyard: no table to manage tokens in/);
  });
});
