import { ID_MAX } from '../protocol/fields.ts';

/**
 * Ids that clusters assign (`requestId`, chunk `msgId`) are unique only within their cluster:
 * two clusters both number their requests from 1. Toward the client the router prefixes the
 * cluster id, `<clusterId>:<id>`; on the way back it splits the prefix off and sends the
 * message to that cluster alone. Cluster ids never contain ":" (topology rule) and client-
 * chosen ids may not either, so the first ":" always ends the namespace.
 */
export const NAMESPACE_SEPARATOR = ':';

const CLUSTER_ID = /^[a-z][a-z0-9-]{0,30}$/;

export function namespaceId(clusterId: string, id: string): string {
  return `${clusterId}${NAMESPACE_SEPARATOR}${id}`;
}

export interface NamespacedId {
  clusterId: string;
  id: string;
}

/** Split `<clusterId>:<id>`; undefined when the value carries no well-formed namespace. */
export function splitNamespacedId(value: string): NamespacedId | undefined {
  const at = value.indexOf(NAMESPACE_SEPARATOR);
  if (at <= 0) return undefined;
  const clusterId = value.slice(0, at);
  const id = value.slice(at + 1);
  if (!CLUSTER_ID.test(clusterId) || id.length === 0 || id.length > ID_MAX) return undefined;
  return { clusterId, id };
}

export const isNamespaced = (value: string): boolean => value.includes(NAMESPACE_SEPARATOR);
