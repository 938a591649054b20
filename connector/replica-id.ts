import { randomBytes } from 'node:crypto';

/**
 * The connector's replica id: stable for the life of the process, so the router can tell a
 * reconnect of this replica (its new connection replaces the old one) from another replica (which
 * adds a connection). In Kubernetes the pod name is the natural one.
 */
export function resolveReplicaId(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = explicit ?? env.SWITCHYARD_REPLICA_ID ?? env.POD_NAME ?? env.HOSTNAME;
  return chosen ? sanitizeReplicaId(chosen) : randomReplicaId();
}

/** A replica id for a connector that was given none (each connector of a process is its own replica). */
export function randomReplicaId(): string {
  return `replica-${randomBytes(6).toString('hex')}`;
}

/** What the router accepts: 1 to 63 of `[A-Za-z0-9._-]`, starting with a letter or digit. */
export function sanitizeReplicaId(value: string): string {
  const cleaned = value
    .replace(/[^A-Za-z0-9._-]/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, 63);
  return cleaned || randomReplicaId();
}
