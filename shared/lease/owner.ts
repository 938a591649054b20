import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

let cached: string | undefined;

/**
 * This process's lease owner id: host, pid and a random part. Stable for the life of the process,
 * so a warm Lambda container or a local replica renews its own lease; different after a restart
 * (even with a recycled pid), so a restarted process never mistakes an old holding for its own.
 */
export function processOwnerId(): string {
  cached ??= `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  return cached;
}
