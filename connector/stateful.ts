import { lookup } from 'node:dns/promises';
import { open, readdir, stat } from 'node:fs/promises';
import { echo } from '../shared/protocol/echo.ts';
import type { ConnectorConfig, ServiceConfig } from './config.ts';
import { allowedPath, fileError, OperationError } from './file-access.ts';

/** Stateful operations, answered only by the default cluster's connector. */

export { OperationError };

const MAX_READ = 1024 * 1024;
/** What one file.result may list (FileResultSchema). */
const MAX_LIST_ENTRIES = 10_000;

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

const kind = (st: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean }) =>
  st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';

/** Runs a file operation on an allowed path; its file system errors become protocol codes. */
async function onFile<T>(path: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    throw err instanceof OperationError ? err : fileError(err, path);
  }
}

export async function fileStat(config: ConnectorConfig, name: string, path: string) {
  const real = await allowedPath(service(config, name), path);
  const st = await onFile(path, () => stat(real));
  return {
    type: kind(st),
    size: st.size,
    mode: st.mode & 0o7777,
    // A file dated before 1970 is still a file: the protocol counts time from the epoch.
    mtimeMs: Math.max(0, Math.floor(st.mtimeMs)),
  } as const;
}

export async function fileRead(
  config: ConnectorConfig,
  name: string,
  path: string,
  offset = 0,
  length = MAX_READ,
) {
  const real = await allowedPath(service(config, name), path);
  return onFile(path, async () => {
    const fh = await open(real, 'r');
    try {
      const st = await fh.stat();
      if (st.isDirectory()) throw new OperationError('is_a_directory', `${echo(path)} is a directory`, 400);
      if (!st.isFile()) throw new OperationError('not_a_file', `${echo(path)} is not a regular file`, 400);
      const want = Math.min(length, MAX_READ, Math.max(0, st.size - offset));
      const buf = Buffer.alloc(want);
      const { bytesRead } = await fh.read(buf, 0, want, offset);
      return { data: buf.subarray(0, bytesRead).toString('base64'), eof: offset + bytesRead >= st.size };
    } finally {
      await fh.close();
    }
  });
}

export async function fileList(config: ConnectorConfig, name: string, path: string) {
  const real = await allowedPath(service(config, name), path);
  const entries = await onFile(path, () => readdir(real, { withFileTypes: true }));
  return entries.slice(0, MAX_LIST_ENTRIES).map((e) => ({ name: e.name, type: kind(e) }));
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
      `cannot resolve ${echo(host)} in this cluster: ${(err as NodeJS.ErrnoException).code}`,
      404,
    );
  }
}
