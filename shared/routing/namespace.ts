import { REPLICA_TAG } from '../clusters/replica.ts';
import { ID_MAX } from '../protocol/fields.ts';

/**
 * Ids that clusters assign (`requestId`, chunk `msgId`) are unique only within the connector
 * replica that assigned them: two clusters, and two replicas of one cluster, all number their
 * requests their own way. Toward the client the router prefixes the cluster id and the tag of
 * the replica's connection, `<clusterId>.<replicaTag>:<id>` (`<clusterId>:<id>` when no replica
 * is named); on the way back it splits the prefix off and sends the message to that replica
 * alone, which is the one holding the request. Cluster ids contain neither "." nor ":"
 * (topology rule) and client-chosen ids no ":", so the first ":" always ends the namespace and
 * the first "." in it ends the cluster id.
 */
export const NAMESPACE_SEPARATOR = ':';
const REPLICA_SEPARATOR = '.';

const CLUSTER_ID = /^[a-z][a-z0-9-]{0,30}$/;

export function namespaceId(clusterId: string, id: string, replicaTag?: string): string {
  const prefix = replicaTag ? `${clusterId}${REPLICA_SEPARATOR}${replicaTag}` : clusterId;
  return `${prefix}${NAMESPACE_SEPARATOR}${id}`;
}

export interface NamespacedId {
  clusterId: string;
  /** The replica that assigned the id, when the namespace names one. */
  replicaTag?: string;
  id: string;
}

/** Split `<clusterId>[.<replicaTag>]:<id>`; undefined when the value carries no well-formed namespace. */
export function splitNamespacedId(value: string): NamespacedId | undefined {
  const at = value.indexOf(NAMESPACE_SEPARATOR);
  if (at <= 0) return undefined;
  const prefix = value.slice(0, at);
  const id = value.slice(at + 1);
  if (id.length === 0 || id.length > ID_MAX) return undefined;
  const dot = prefix.indexOf(REPLICA_SEPARATOR);
  const clusterId = dot < 0 ? prefix : prefix.slice(0, dot);
  if (!CLUSTER_ID.test(clusterId)) return undefined;
  if (dot < 0) return { clusterId, id };
  const replicaTag = prefix.slice(dot + 1);
  if (!REPLICA_TAG.test(replicaTag)) return undefined;
  return { clusterId, replicaTag, id };
}

export const isNamespaced = (value: string): boolean => value.includes(NAMESPACE_SEPARATOR);
