import { isReplicaId, replicaIdOfConnection } from '../clusters/replica.ts';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store } from '../store/store.ts';

/** Who is on a WebSocket connection: a developer's client for one session, or a cluster's connector. */
export type ConnectionRecord =
  | { connectionId: string; role: 'client'; sessionId: string; owner: string }
  | { connectionId: string; role: 'cluster'; clusterId: string; replicaId: string };

export async function saveConnection(
  store: Store,
  rec: ConnectionRecord,
  now: number,
  ttlMs: number,
): Promise<void> {
  // expiresAt only lets DynamoDB's TTL collect records whose $disconnect never came (it is best effort).
  await store.put({
    ...keys.connection(rec.connectionId),
    kind: KINDS.connection,
    ...rec,
    connectedAt: now,
    expiresAt: now + ttlMs,
  });
}

export async function loadConnection(
  store: Store,
  connectionId: string,
): Promise<ConnectionRecord | undefined> {
  const item = await store.get(keys.connection(connectionId));
  if (!item) return undefined;
  return item.role === 'client'
    ? { connectionId, role: 'client', sessionId: item.sessionId as string, owner: item.owner as string }
    : {
        connectionId,
        role: 'cluster',
        clusterId: item.clusterId as string,
        // Records written before replicas named none: the connection was its own replica.
        replicaId: isReplicaId(item.replicaId) ? item.replicaId : replicaIdOfConnection(connectionId),
      };
}

export async function deleteConnection(store: Store, connectionId: string): Promise<void> {
  try {
    await store.delete(keys.connection(connectionId));
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}
