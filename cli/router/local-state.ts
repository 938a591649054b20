import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** What `switchyard dev` writes to `.switchyard/local.json` (the subset the CLI reads). */
export interface LocalState {
  httpUrl: string;
  wsUrl: string;
  developerToken: string;
  clusters?: Record<string, { token: string }>;
  demo?: { clusters: Record<string, { services: Record<string, { ingressUrl: string }> }> };
}

export const LOCAL_STATE_FILE = '.switchyard/local.json';

export function readLocalState(
  file = process.env.SWITCHYARD_STATE_FILE ?? LOCAL_STATE_FILE,
): LocalState | undefined {
  const path = resolve(file);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LocalState;
  } catch {
    return undefined;
  }
}

export interface RouterTarget {
  httpUrl: string;
  wsUrl: string;
  token: string;
}

/**
 * --router/--token, else SWITCHYARD_ROUTER/SWITCHYARD_TOKEN, else the local runtime's state file.
 * The WebSocket URL is derived from the HTTP one unless given (--ws).
 */
export function resolveRouter(opts: { router?: string; ws?: string; token?: string }): RouterTarget {
  const local = readLocalState();
  const httpUrl = opts.router ?? process.env.SWITCHYARD_ROUTER ?? local?.httpUrl;
  const token = opts.token ?? process.env.SWITCHYARD_TOKEN ?? local?.developerToken;
  if (!httpUrl) {
    throw new Error(
      `no router to talk to: pass --router <url> (or set SWITCHYARD_ROUTER), or start one locally with \`npm start\` (it writes ${LOCAL_STATE_FILE})`,
    );
  }
  if (!token) throw new Error('no token: pass --token <token> or set SWITCHYARD_TOKEN');
  const wsUrl =
    opts.ws ??
    process.env.SWITCHYARD_WS ??
    (local && local.httpUrl === httpUrl
      ? local.wsUrl
      : `${httpUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/ws`);
  return { httpUrl: httpUrl.replace(/\/$/, ''), wsUrl, token };
}
