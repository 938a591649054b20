import { createHash } from 'node:crypto';

/**
 * The key the router stamps on a developer's chunks toward a cluster, so that the connector can
 * share its reassembly bounds out per developer rather than per session (one developer may open
 * many sessions). A hash, not the principal id: the connector needs to tell developers apart,
 * not to know who they are. Pure and the same in every router instance, so it needs no state.
 */
export function ownerKey(principalId: string): string {
  return createHash('sha256').update(`switchyard-owner\n${principalId}`).digest('base64url').slice(0, 22);
}
