import { lookup } from 'node:dns/promises';
import { open, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, normalize, relative, sep } from 'node:path';
import { SwitchyardError } from '../shared/errors/errors.ts';
import type { ConnectorConfig, ServiceConfig } from './config.ts';

/** Stateful operations, answered only by the default cluster's connector. */

export class OperationError extends SwitchyardError {}

const MAX_READ = 1024 * 1024;

function service(config: ConnectorConfig, name: string): ServiceConfig {
  const s = config.services.find((x) => x.name === name);
  if (!s) {
    throw new OperationError(
      'unknown_service',
      `this cluster has no service '${name}' (it fronts: ${config.services.map((x) => x.name).join(', ') || 'none'})`,
      404,
    );
  }
  return s;
}

export function envOf(
  config: ConnectorConfig,
  name: string,
  processEnv = process.env,
): Record<string, string> {
  const s = service(config, name);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.env)) {
    const value = typeof v === 'string' ? v : processEnv[v.fromEnv];
    if (value !== undefined) out[k] = value;
  }
  return out;
}

/**
 * Resolves a path and checks it lies under one of the service's allowed files or directories,
 * after following symlinks, so `../` and links cannot reach anything else.
 */
async function allowedPath(s: ServiceConfig, path: string): Promise<string> {
  if (!isAbsolute(path)) throw new OperationError('invalid_path', `'${path}' is not an absolute path`, 400);
  let real: string;
  try {
    real = await realpath(normalize(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new OperationError('not_found', `no such file: ${path}`, 404);
    throw new OperationError('io_error', `cannot read ${path}: ${code}`, 500);
  }
  for (const allowed of s.files) {
    let root: string;
    try {
      root = await realpath(allowed);
    } catch {
      continue;
    }
    const rel = relative(root, real);
    if (rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel))) return real;
  }
  throw new OperationError(
    'forbidden_path',
    `'${path}' is not readable for service '${s.name}': the connector config allows ${s.files.join(', ') || 'no files'}`,
    403,
  );
}

const kind = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) =>
  st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';

export async function fileStat(config: ConnectorConfig, name: string, path: string) {
  const real = await allowedPath(service(config, name), path);
  const st = await stat(real);
  return { type: kind(st), size: st.size, mode: st.mode & 0o7777, mtimeMs: Math.floor(st.mtimeMs) } as const;
}

export async function fileRead(
  config: ConnectorConfig,
  name: string,
  path: string,
  offset = 0,
  length = MAX_READ,
) {
  const real = await allowedPath(service(config, name), path);
  const fh = await open(real, 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new OperationError('not_a_file', `${path} is not a file`, 400);
    const want = Math.min(length, MAX_READ, Math.max(0, st.size - offset));
    const buf = Buffer.alloc(want);
    const { bytesRead } = await fh.read(buf, 0, want, offset);
    return { data: buf.subarray(0, bytesRead).toString('base64'), eof: offset + bytesRead >= st.size };
  } finally {
    await fh.close();
  }
}

export async function fileList(config: ConnectorConfig, name: string, path: string) {
  const real = await allowedPath(service(config, name), path);
  const entries = await readdir(real, { withFileTypes: true });
  return entries.slice(0, 10_000).map((e) => ({ name: e.name, type: kind(e) }));
}

export async function resolveHost(
  host: string,
  family?: 4 | 6,
  hosts: Record<string, string> = {},
): Promise<string[]> {
  const alias = hosts[host.toLowerCase()];
  if (alias && (!family || (family === 6) === alias.includes(':'))) return [alias];
  try {
    const all = await lookup(host, { all: true, ...(family ? { family } : {}) });
    return [...new Set(all.map((a) => a.address))];
  } catch (err) {
    throw new OperationError(
      'dns_failed',
      `cannot resolve '${host}' in this cluster: ${(err as NodeJS.ErrnoException).code}`,
      404,
    );
  }
}
