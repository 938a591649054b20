import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, relative, resolve, sep } from 'node:path';
import { SwitchyardError } from '../shared/errors/errors.ts';
import { echo } from '../shared/protocol/echo.ts';
import type { ServiceConfig } from './config.ts';

/**
 * Which paths a service's files may be read at, decided so that a refusal tells nothing about
 * what lies outside the allow-list. The allow-list is checked on the path as given, before the
 * file system is touched, and again on where the path leads after following every symlink
 * (dangling ones too): a path outside either way is refused with the same `forbidden_path`,
 * whether it exists or not and whatever error the file system would have given.
 */

export class OperationError extends SwitchyardError {}

/** Symlinks followed on one path before giving up (Linux's own limit is 40). */
const MAX_LINK_HOPS = 40;

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

function refused(s: ServiceConfig, path: string): OperationError {
  return new OperationError(
    'forbidden_path',
    `${echo(path)} is not readable for service '${s.name}': the connector config allows ${s.files.join(', ') || 'no files'}`,
    403,
  );
}

const errnoOf = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;

/**
 * Where `path` leads: its real path as far as it exists, the rest appended. A dangling symlink
 * is followed to where it points, so a missing target outside the allow-list is found outside
 * just like an existing one. `undefined` when that cannot be known (a loop, no permission).
 */
async function whereItLeads(path: string, hops = 0): Promise<{ real: string; exists: boolean } | undefined> {
  if (hops > MAX_LINK_HOPS) return undefined;
  try {
    return { real: await realpath(path), exists: true };
  } catch (err) {
    const code = errnoOf(err);
    if (code !== 'ENOENT' && code !== 'ENOTDIR') return undefined;
  }
  const parentPath = dirname(path);
  if (parentPath === path) return undefined;
  const parent = await whereItLeads(parentPath, hops);
  if (!parent) return undefined;
  const here = join(parent.real, basename(path));
  if (!parent.exists) return { real: here, exists: false };
  let link: string;
  try {
    if (!(await lstat(here)).isSymbolicLink()) return { real: here, exists: false };
    link = await readlink(here);
  } catch (err) {
    const code = errnoOf(err);
    return code === 'ENOENT' || code === 'ENOTDIR' ? { real: here, exists: false } : undefined;
  }
  const target = await whereItLeads(resolve(parent.real, link), hops + 1);
  return target && { real: target.real, exists: false };
}

/**
 * The real path of `path` if the service may read it. Refused (`forbidden_path`) when the path
 * as given, or where it leads, is outside every allowed file or directory; `not_found` only for
 * a path inside the allow-list both ways.
 */
export async function allowedPath(s: ServiceConfig, path: string): Promise<string> {
  if (!isAbsolute(path))
    throw new OperationError('invalid_path', `${echo(path)} is not an absolute path`, 400);
  const given = normalize(path);
  const roots: { named: string; real?: string }[] = [];
  for (const allowed of s.files) {
    const named = normalize(allowed);
    const real = await realpath(named).catch(() => undefined);
    roots.push(real === undefined ? { named } : { named, real });
  }
  // As given: nothing outside is looked at, so nothing about it can show in the answer.
  if (!roots.some((r) => inside(r.named, given) || (r.real !== undefined && inside(r.real, given)))) {
    throw refused(s, path);
  }
  const led = await whereItLeads(given);
  if (!led || !roots.some((r) => r.real !== undefined && inside(r.real, led.real))) throw refused(s, path);
  if (!led.exists) throw new OperationError('not_found', `no such file: ${echo(path)}`, 404);
  return led.real;
}

/**
 * A file system error on an allowed path, as a protocol code. Errors not listed here are not
 * foreseen: they go up as they are and the connector answers `internal` with an incident id.
 */
export function fileError(err: unknown, path: string): unknown {
  const named = echo(path);
  switch (errnoOf(err)) {
    case 'ENOENT':
      return new OperationError('not_found', `no such file: ${named}`, 404);
    case 'ENOTDIR':
      return new OperationError('not_a_directory', `${named} is not a directory`, 400);
    case 'EISDIR':
      return new OperationError('is_a_directory', `${named} is a directory`, 400);
    case 'EACCES':
    case 'EPERM':
      return new OperationError('forbidden_path', `the connector may not read ${named}`, 403);
    case 'ENAMETOOLONG':
      return new OperationError('invalid_path', `${named} is longer than the file system allows`, 400);
    default:
      return err;
  }
}
