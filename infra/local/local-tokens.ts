import { generateToken, registerToken } from '../../shared/auth/tokens.ts';
import type { Topology } from '../../shared/config/topology.ts';
import type { Store } from '../../shared/store/store.ts';
import type { PreviousTokens } from './state-file.ts';

export interface LocalTokens {
  developerToken: string;
  /** One token per configured cluster, for its connector. */
  clusterTokens: Record<string, string>;
}

const DEVELOPER = /^sy_dev_[A-Za-z0-9_-]{43}$/;
const CLUSTER = /^sy_cl_[A-Za-z0-9_-]{43}$/;

/**
 * The developer token and one token per cluster. Tokens of an earlier run are kept, so a
 * restart does not break a CLI or connector that already holds them; registering is an
 * idempotent put of the hash, which also restores them into a fresh in-memory table.
 */
export async function provisionLocalTokens(
  store: Store,
  topology: Topology,
  previous: PreviousTokens,
): Promise<LocalTokens> {
  const developerToken =
    previous.developerToken && DEVELOPER.test(previous.developerToken)
      ? previous.developerToken
      : generateToken('developer');
  await registerToken(store, developerToken, { type: 'developer', id: 'local' });
  const clusterTokens: Record<string, string> = {};
  for (const { id } of topology.clusters) {
    const earlier = previous.clusters?.[id]?.token;
    const token = earlier && CLUSTER.test(earlier) ? earlier : generateToken('cluster');
    await registerToken(store, token, { type: 'cluster', clusterId: id });
    clusterTokens[id] = token;
  }
  return { developerToken, clusterTokens };
}
