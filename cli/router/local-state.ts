import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SwitchyardError } from '../../shared/errors/errors.ts';

/** What `switchyard dev` writes to `.switchyard/local.json` (the subset the CLI reads). */
export interface LocalState {
  httpUrl: string;
  wsUrl: string;
  developerToken: string;
  clusters?: Record<string, { token: string }>;
  demo?: { clusters: Record<string, { services: Record<string, { ingressUrl: string }> }> };
}

export const LOCAL_STATE_FILE = '.switchyard/local.json';

export const STATE_FILE_HELP =
  'the local router’s state file (default: SWITCHYARD_STATE_FILE, else .switchyard/local.json here or in the nearest directory above)';

/**
 * The state file to read: SWITCHYARD_STATE_FILE (set by `--state-file` too) when given, else the
 * nearest `.switchyard/local.json` from `cwd` upwards, as git finds `.git`, so every command works
 * from any subdirectory of the project. Undefined when there is none.
 */
export function findStateFile(cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.SWITCHYARD_STATE_FILE) return resolve(cwd, env.SWITCHYARD_STATE_FILE);
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const candidate = join(dir, LOCAL_STATE_FILE);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

export class StateFileError extends SwitchyardError {
  constructor(file: string, reason: string) {
    super(
      'state_file_unreadable',
      `cannot read ${file} (${reason}): restart the local router (\`npm start\`), or pass --router and --token`,
      400,
    );
  }
}

/** Reads the state file; undefined when there is none, an error naming it when it is broken. */
export function readLocalState(file = findStateFile()): LocalState | undefined {
  if (file === undefined || !existsSync(file)) return undefined;
  let state: Partial<LocalState>;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as Partial<LocalState>;
  } catch (err) {
    throw new StateFileError(file, (err as Error).message);
  }
  if (typeof state?.httpUrl !== 'string' || typeof state.developerToken !== 'string') {
    throw new StateFileError(file, 'it names no httpUrl and developerToken');
  }
  return state as LocalState;
}

/** Where a value came from, for messages that tell the user what to change. */
export type Source = '--router' | '--token' | 'SWITCHYARD_ROUTER' | 'SWITCHYARD_TOKEN' | { file: string };

export function describeSource(source: Source): string {
  return typeof source === 'string' ? source : source.file;
}

export interface RouterTarget {
  httpUrl: string;
  wsUrl: string;
  token: string;
  routerSource?: Source;
  tokenSource?: Source;
}

/**
 * --router/--token, else SWITCHYARD_ROUTER/SWITCHYARD_TOKEN, else the local runtime's state file.
 * The WebSocket URL is derived from the HTTP one unless given (--ws).
 */
export function resolveRouter(opts: { router?: string; ws?: string; token?: string }): RouterTarget {
  const file = findStateFile();
  // A state file is read only when something is missing: with both flags it need not exist.
  const needLocal =
    !(opts.router ?? process.env.SWITCHYARD_ROUTER) || !(opts.token ?? process.env.SWITCHYARD_TOKEN);
  const local = needLocal ? readLocalState(file) : undefined;
  const fromFile = file ? { file } : undefined;
  const [httpUrl, routerSource] = pick<string>([
    [opts.router, '--router'],
    [process.env.SWITCHYARD_ROUTER, 'SWITCHYARD_ROUTER'],
    [local?.httpUrl, fromFile],
  ]);
  const [token, tokenSource] = pick<string>([
    [opts.token, '--token'],
    [process.env.SWITCHYARD_TOKEN, 'SWITCHYARD_TOKEN'],
    [local?.developerToken, fromFile],
  ]);
  if (!httpUrl) {
    throw new SwitchyardError(
      'no_router',
      `no router to talk to: ${
        process.env.SWITCHYARD_STATE_FILE
          ? `the state file ${file} (from --state-file or SWITCHYARD_STATE_FILE) does not exist`
          : `found no ${LOCAL_STATE_FILE} here or in any directory above`
      }; start the router locally with \`npm start\` (or \`switchyard dev\`), or pass --router <url> (or set SWITCHYARD_ROUTER)`,
      400,
    );
  }
  if (!token) {
    throw new SwitchyardError(
      'no_token',
      'no token: pass --token <token> or set SWITCHYARD_TOKEN (an administrator creates one with `switchyard token create --developer <name>`)',
      400,
    );
  }
  const wsUrl =
    opts.ws ??
    process.env.SWITCHYARD_WS ??
    (local && local.httpUrl === httpUrl
      ? local.wsUrl
      : `${httpUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`);
  return {
    httpUrl: httpUrl.replace(/\/$/, ''),
    wsUrl,
    token,
    ...(routerSource ? { routerSource } : {}),
    ...(tokenSource ? { tokenSource } : {}),
  };
}

function pick<T>(candidates: [T | undefined, Source | undefined][]): [T | undefined, Source | undefined] {
  for (const [value, source] of candidates) if (value) return [value, source];
  return [undefined, undefined];
}
