import type { RequestHead, Target, TrafficRouter } from './types.ts';

/**
 * Where a request goes, decided from its head alone (method, path, headers), before a byte of
 * its body is read: whatever no session wants can then stream to the upstream untouched.
 */
export type RequestKind = 'http' | 'upgrade' | 'grpc';

export interface Decision {
  kind: RequestKind;
  /** The developer who takes the request; absent when the upstream serves it. */
  steal?: Target;
  /** Developers who get a copy while the upstream serves it. */
  mirrors: Target[];
  /**
   * A steal subscription matched a kind of request the ingress cannot steal yet (a gRPC call):
   * the upstream serves it, and the caller says so in its log.
   */
  unstolen?: Target;
}

/** Kinds of request the ingress hands to a developer whole; the others always reach the upstream. */
const STEALABLE: ReadonlySet<RequestKind> = new Set(['http', 'upgrade']);
/** Kinds a copy makes sense for: an upgraded connection has no body to copy. */
const MIRRORABLE: ReadonlySet<RequestKind> = new Set(['http', 'grpc']);

export function requestKind(head: RequestHead): RequestKind {
  const h = head.headers;
  if (h.upgrade !== undefined && hasToken(h.connection, 'upgrade')) return 'upgrade';
  const type = h['content-type'];
  if (typeof type === 'string' && type.startsWith('application/grpc')) return 'grpc';
  return 'http';
}

export function decide(router: TrafficRouter, service: string, head: RequestHead): Decision {
  const kind = requestKind(head);
  const { steal, mirrors } = router.match(service, head);
  const decision: Decision = { kind, mirrors: MIRRORABLE.has(kind) ? mirrors : [] };
  if (steal) {
    if (STEALABLE.has(kind)) decision.steal = steal;
    else decision.unstolen = steal;
  }
  return decision;
}

function hasToken(value: string | string[] | undefined, token: string): boolean {
  if (value === undefined) return false;
  const joined = Array.isArray(value) ? value.join(',') : value;
  return joined
    .toLowerCase()
    .split(',')
    .some((t) => t.trim() === token);
}
