import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { UnauthorizedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';

/**
 * Bearer tokens. Only a SHA-256 hash is stored (`TOKEN#<hash>`), so neither the table nor a
 * template holds a usable secret; the token itself is shown once to whoever created it.
 */
export type Principal = { type: 'developer'; id: string } | { type: 'cluster'; clusterId: string };

const PREFIX = { developer: 'sy_dev_', cluster: 'sy_cl_' } as const;

export function generateToken(type: Principal['type']): string {
  return `${PREFIX[type]}${randomBytes(32).toString('base64url')}`;
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Never log a token; log this instead. */
export function redactToken(token: string): string {
  return `${token.slice(0, 7)}…(${token.length} chars)`;
}

export async function registerToken(store: Store, token: string, principal: Principal): Promise<void> {
  await store.put({ ...keys.token(hashToken(token)), kind: KINDS.token, principal, createdAt: Date.now() });
}

export async function revokeToken(store: Store, token: string): Promise<void> {
  await store.delete(keys.token(hashToken(token)));
}

/** Parses `Authorization: Bearer <token>`; returns undefined when absent or malformed. */
export function bearerToken(header: string | undefined | null): string | undefined {
  const m = header?.match(/^Bearer\s+(\S+)\s*$/i);
  return m?.[1];
}

export async function authenticate(store: Store, token: string | undefined): Promise<Principal> {
  if (!token || token.length > 256) throw new UnauthorizedError();
  const hash = hashToken(token);
  const item = await store.get(keys.token(hash));
  // The lookup is by hash, so timing does not reveal the token; compare anyway to be explicit.
  if (!item || !timingSafeEqual(Buffer.from(item.pk), Buffer.from(`TOKEN#${hash}`)))
    throw new UnauthorizedError();
  return item.principal as Principal;
}

export function principalId(p: Principal): string {
  return p.type === 'developer' ? `developer:${p.id}` : `cluster:${p.clusterId}`;
}
