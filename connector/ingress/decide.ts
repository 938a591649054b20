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
}

/**
 * Every kind can be stolen: a plain request (its body streams), an upgrade (tunnelled to the
 * local app once it answers 101) and a gRPC call (an HTTP/2 request whose answer ends in
 * trailers, which the answer carries). Kinds a copy makes sense for: an upgraded connection has no body to copy. */
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
  if (steal) decision.steal = steal;
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
