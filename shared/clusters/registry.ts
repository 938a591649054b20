import type { Topology } from '../config/topology.ts';
import { ConditionFailedError } from '../errors/errors.ts';
import { KINDS, keys } from '../store/keys.ts';
import type { Store, StoredItem } from '../store/store.ts';

/** A cluster's connection state, kept in `CLUSTER#id`. */
export interface ClusterState {
  id: string;
  connected: boolean;
  connectionId?: string;
  connectedAt?: number;
  lastSeen?: number;
  /** Services the connector reported in its hello. */
  services?: string[];
}

/** lastSeen is refreshed at most this often, so a busy connector costs no write per message. */
export const LAST_SEEN_WRITE_INTERVAL_MS = 10_000;

function toState(item: StoredItem | undefined, id: string): ClusterState {
  if (!item) return { id, connected: false };
  return {
    id,
    connected: item.connected === true,
    ...(item.connectionId ? { connectionId: item.connectionId as string } : {}),
    ...(item.connectedAt ? { connectedAt: item.connectedAt as number } : {}),
    ...(item.lastSeen ? { lastSeen: item.lastSeen as number } : {}),
    ...(item.services ? { services: item.services as string[] } : {}),
  };
}

export async function getCluster(store: Store, id: string): Promise<ClusterState> {
  return toState(await store.get(keys.cluster(id)), id);
}

export async function listClusters(store: Store, topology: Topology): Promise<ClusterState[]> {
  const items = await store.listByKind(KINDS.cluster);
  const byId = new Map(items.map((i) => [i.id as string, i]));
  return topology.clusters.map((c) => toState(byId.get(c.id), c.id));
}

/** A connector connected: it becomes the cluster's one connection (a newer connection replaces an older one). */
export async function markConnected(
  store: Store,
  id: string,
  connectionId: string,
  now: number,
): Promise<void> {
  await store.put({
    ...keys.cluster(id),
    kind: KINDS.cluster,
    id,
    connected: true,
    connectionId,
    connectedAt: now,
    lastSeen: now,
  });
}

export async function recordHello(
  store: Store,
  id: string,
  connectionId: string,
  services: string[],
  now: number,
) {
  try {
    await store.update(
      keys.cluster(id),
      { services, lastSeen: now },
      { conditions: [{ type: 'equals', attr: 'connectionId', value: connectionId }] },
    );
  } catch (err) {
    if (!(err instanceof ConditionFailedError)) throw err;
  }
}

/**
 * A connection closed. Conditional on the connection id, because `$disconnect` is best effort and
 * may arrive late:
 *
 *   old conn ----x (drops)            $disconnect(old) arrives late
 *   new conn        ---- $connect(new) ---------------------|--->
 *                        CLUSTER.connectionId = new          ^ must not mark the cluster disconnected
 */
export async function markDisconnected(
  store: Store,
  id: string,
  connectionId: string,
  now: number,
): Promise<boolean> {
  try {
    await store.update(
      keys.cluster(id),
      { connected: false, lastSeen: now },
      {
        conditions: [{ type: 'equals', attr: 'connectionId', value: connectionId }],
        remove: ['connectionId'],
      },
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}

/** Refreshes lastSeen when it is older than the write interval; returns whether it wrote. */
export async function touchCluster(store: Store, state: ClusterState, now: number): Promise<boolean> {
  if (!state.connectionId || (state.lastSeen && now - state.lastSeen < LAST_SEEN_WRITE_INTERVAL_MS))
    return false;
  try {
    await store.update(
      keys.cluster(state.id),
      { lastSeen: now },
      { conditions: [{ type: 'equals', attr: 'connectionId', value: state.connectionId }] },
    );
    return true;
  } catch (err) {
    if (err instanceof ConditionFailedError) return false;
    throw err;
  }
}
