import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type Command, Option } from 'commander';
import * as z from 'zod';
import {
  generateToken,
  hashToken,
  type Principal,
  principalId,
  revokeToken,
  registerToken as storeToken,
} from '../../shared/auth/tokens.ts';
import { ClusterConfigSchema } from '../../shared/config/topology.ts';
import { NotFoundError, SwitchyardError, ValidationError } from '../../shared/errors/errors.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import type { StoredItem } from '../../shared/store/store.ts';
import { findStateFile, LOCAL_STATE_FILE } from '../router/local-state.ts';

/**
 * `switchyard token create|revoke|list`: bearer tokens for developers and cluster connectors.
 * Only a token's SHA-256 hash is stored; the token is printed once, at creation, and never
 * again (list shows hash prefixes). The table is the deployed one (--table / SWITCHYARD_TABLE,
 * AWS default credentials) or, without one, the local runtime's (.switchyard/local.json).
 */

/** The table could not be used: which one, why, and what to do. */
export class TokenStoreError extends SwitchyardError {
  constructor(code: string, message: string) {
    super(code, message, 400);
  }
}

const HASH_PREFIX = 12;
const MIN_HASH_PREFIX = 8;
const DeveloperId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/, 'letters, digits, ".", "_", "@" and "-", at most 64 chars');
const ClusterId = ClusterConfigSchema.shape.id;

/** The part of the local runtime's state file this command reads. */
const LocalTableSchema = z.object({
  region: z.string().optional(),
  dynamodb: z.object({ endpoint: z.string(), table: z.string() }),
});

interface TargetFlags {
  table?: string;
  region?: string;
  endpoint?: string;
}

export interface TokenTarget {
  store: DynamoDbStore;
  client: DynamoDBClient;
  /** For messages: "table X (region)" or "the local runtime's table X". */
  describe: string;
  table: string;
}

/** --table, else SWITCHYARD_TABLE (AWS, default credential chain), else the local runtime. */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): TokenTarget {
  const table = flags.table ?? env.SWITCHYARD_TABLE;
  if (table) {
    const client = new DynamoDBClient({
      ...(flags.region ? { region: flags.region } : {}),
      ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
    });
    return { store: new DynamoDbStore(client, table), client, table, describe: `table ${table}` };
  }
  const stateFile = findStateFile(process.cwd(), env) ?? resolve(LOCAL_STATE_FILE);
  if (!existsSync(stateFile)) {
    throw new TokenStoreError(
      'no_table',
      'no table to manage tokens in: pass --table <name> (the TableName output of the router stack) or set SWITCHYARD_TABLE, or start the local router with `npm start`',
    );
  }
  let local: z.infer<typeof LocalTableSchema>;
  try {
    local = LocalTableSchema.parse(JSON.parse(readFileSync(stateFile, 'utf8')));
  } catch {
    throw new TokenStoreError(
      'no_table',
      `${stateFile} names no local table (dynamodb.endpoint, dynamodb.table): restart the local router, or pass --table`,
    );
  }
  const client = new DynamoDBClient({
    region: flags.region ?? local.region ?? 'us-east-1',
    endpoint: flags.endpoint ?? local.dynamodb.endpoint,
    // The embedded DynamoDB accepts any signature; real credentials stay out of local traffic.
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    store: new DynamoDbStore(client, local.dynamodb.table),
    client,
    table: local.dynamodb.table,
    describe: `the local router's table ${local.dynamodb.table} (${local.dynamodb.endpoint})`,
  };
}

/** Turns the SDK's failures into what the user should do about them. */
async function using<T>(target: TokenTarget, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof SwitchyardError) throw err;
    const e = err as Error & { code?: string };
    const region = await target.client.config.region().catch(() => undefined);
    const where = `${target.describe}${region ? ` in ${region}` : ''}`;
    if (e.name === 'CredentialsProviderError' || /credential/i.test(e.message)) {
      throw new TokenStoreError(
        'no_credentials',
        `no AWS credentials for ${where}: configure the default chain (AWS_PROFILE, aws sso login, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or an instance role)`,
      );
    }
    if (/region is missing/i.test(e.message)) {
      throw new TokenStoreError(
        'no_region',
        `no AWS region for ${target.describe}: pass --region or set AWS_REGION`,
      );
    }
    if (e.name === 'ResourceNotFoundException') {
      throw new TokenStoreError(
        'table_not_found',
        `${where} does not exist: check --table and --region against the router stack's TableName output`,
      );
    }
    if (e.name === 'AccessDeniedException' || e.name === 'UnrecognizedClientException') {
      throw new TokenStoreError('access_denied', `AWS refused access to ${where}: ${e.message}`);
    }
    if (e.code === 'ECONNREFUSED' || (e.cause as { code?: string } | undefined)?.code === 'ECONNREFUSED') {
      throw new TokenStoreError('store_unreachable', `cannot reach ${where}: is the local router running?`);
    }
    throw err;
  }
}

function principalFrom(opts: { developer?: string; cluster?: string }): Principal {
  if (opts.developer !== undefined) {
    const id = DeveloperId.safeParse(opts.developer);
    if (!id.success)
      throw new ValidationError(`--developer '${opts.developer}': ${id.error.issues[0]?.message}`);
    return { type: 'developer', id: id.data };
  }
  if (opts.cluster !== undefined) {
    const id = ClusterId.safeParse(opts.cluster);
    if (!id.success) throw new ValidationError(`--cluster '${opts.cluster}': ${id.error.issues[0]?.message}`);
    return { type: 'cluster', clusterId: id.data };
  }
  throw new ValidationError('say whose token it is: --developer <id> or --cluster <id>');
}

const hashOf = (item: StoredItem): string => item.pk.slice('TOKEN#'.length);

export interface TokenRow {
  hash: string;
  principal: string;
  createdAt: string;
}

export async function listTokens(target: TokenTarget): Promise<TokenRow[]> {
  const items = await using(target, () => target.store.listByKind(KINDS.token));
  return items
    .sort((a, b) => Number(a.createdAt ?? 0) - Number(b.createdAt ?? 0))
    .map((item) => ({
      hash: hashOf(item).slice(0, HASH_PREFIX),
      principal: principalId(item.principal as Principal),
      createdAt: new Date(Number(item.createdAt ?? 0)).toISOString(),
    }));
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

/** Finds the one token whose hash starts with `prefix` (list shows these). */
async function hashByPrefix(target: TokenTarget, prefix: string): Promise<string> {
  if (!new RegExp(`^[0-9a-f]{${MIN_HASH_PREFIX},64}$`).test(prefix)) {
    throw new ValidationError(
      `--hash takes at least ${MIN_HASH_PREFIX} hex digits, as \`switchyard token list\` shows`,
    );
  }
  const items = await using(target, () => target.store.listByKind(KINDS.token));
  const matches = items.map(hashOf).filter((h) => h.startsWith(prefix));
  if (matches.length === 0) throw new NotFoundError('token with hash', prefix);
  if (matches.length > 1)
    throw new ValidationError(`hash prefix ${prefix} matches ${matches.length} tokens: give more digits`);
  return matches[0]!;
}

const targetOptions = (cmd: Command): Command =>
  cmd
    .option(
      '--table <name>',
      'DynamoDB table, the router stack output TableName (default: SWITCHYARD_TABLE, else the local router)',
    )
    .option('--region <region>', 'AWS region of the table (default: the AWS SDK default, e.g. AWS_REGION)')
    .option('--endpoint <url>', 'DynamoDB endpoint override (a local or test DynamoDB)');

/** Where the command prints: the token and lists on `out`, everything for a person on `err`. */
export interface TokenOutput {
  out(text: string): void;
  err(text: string): void;
}

const STDIO: TokenOutput = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export function registerToken(program: Command, io: TokenOutput = STDIO): void {
  const token = program
    .command('token')
    .description('create, revoke and list bearer tokens (developers and cluster connectors)');

  targetOptions(
    token
      .command('create')
      .description('create a token and print it once (only its hash is stored)')
      .addOption(new Option('--developer <id>', 'a developer token (for the CLI)').conflicts('cluster'))
      .addOption(new Option('--cluster <id>', "a cluster's connector token").conflicts('developer')),
  ).action(async (opts: TargetFlags & { developer?: string; cluster?: string }) => {
    const principal = principalFrom(opts);
    const target = resolveTarget(opts);
    const value = generateToken(principal.type);
    await using(target, () => storeToken(target.store, value, principal));
    io.out(`${value}\n`);
    io.err(
      `created a token for ${principalId(principal)} (hash ${hashToken(value).slice(0, HASH_PREFIX)}) in ${target.describe}. It is shown this once: store it now.\n`,
    );
    target.client.destroy();
  });

  targetOptions(
    token
      .command('revoke')
      .description('revoke a token (give the token, "-" to read it from stdin, or --hash <prefix>)')
      .argument('[token]', 'the token to revoke, or "-" to read it from stdin')
      .option('--hash <prefix>', 'revoke by the hash prefix `token list` shows, when the token is lost'),
  ).action(async (given: string | undefined, opts: TargetFlags & { hash?: string }) => {
    if ((given === undefined) === (opts.hash === undefined)) {
      throw new ValidationError('give either the token (or "-" for stdin) or --hash <prefix>, not both');
    }
    const target = resolveTarget(opts);
    const value = given === '-' ? await readStdin() : given;
    const hash = value === undefined ? await hashByPrefix(target, opts.hash!) : hashToken(value);
    const item = await using(target, () => target.store.get(keys.token(hash)));
    if (!item) throw new NotFoundError('token with hash', hash.slice(0, HASH_PREFIX));
    await using(target, () =>
      value === undefined ? target.store.delete(keys.token(hash)) : revokeToken(target.store, value),
    );
    io.err(
      `revoked the token of ${principalId(item.principal as Principal)} (hash ${hash.slice(0, HASH_PREFIX)}) in ${target.describe}\n`,
    );
    target.client.destroy();
  });

  targetOptions(
    token
      .command('list')
      .description('list tokens: whose, when created, and a hash prefix (never the token)')
      .option('--json', 'print JSON'),
  ).action(async (opts: TargetFlags & { json?: boolean }) => {
    const target = resolveTarget(opts);
    const rows = await listTokens(target);
    target.client.destroy();
    if (opts.json) {
      io.out(`${JSON.stringify(rows, null, 2)}\n`);
      return;
    }
    if (rows.length === 0) {
      io.err(`no tokens in ${target.describe}\n`);
      return;
    }
    const width = Math.max(...rows.map((r) => r.principal.length), 'PRINCIPAL'.length);
    const line = (h: string, p: string, c: string) => `${h.padEnd(HASH_PREFIX)}  ${p.padEnd(width)}  ${c}\n`;
    io.out(line('HASH', 'PRINCIPAL', 'CREATED'));
    for (const r of rows) io.out(line(r.hash, r.principal, r.createdAt));
  });
}
