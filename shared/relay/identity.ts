import { isReplicaId } from '../clusters/replica.ts';

/**
 * Who is on a WebSocket connection, as the $connect authorizer tells API Gateway, which attaches
 * it to every later event of the connection (`requestContext.authorizer`). With it a router
 * instance that has never seen the connection knows the sender without reading the table.
 */
export type ConnectionIdentity =
  | { role: 'client'; sessionId: string; owner: string }
  /** `replicaId`: the connector replica (`?replica=`); without one the connection is its own replica. */
  | { role: 'cluster'; clusterId: string; replicaId?: string };

/** The header the authorizer's identity source names: without it API Gateway answers 401 itself. */
export const AUTHORIZER_IDENTITY_HEADER = 'Authorization';

/** What an authorizer's `context` may hold: API Gateway accepts these value types only. */
export type AuthorizerContext = Record<string, string | number | boolean>;

const SESSION_ID = /^[a-z0-9]{1,40}$/;
const MAX_ID = 256;
/** Keys API Gateway itself adds next to the authorizer's context. */
const GATEWAY_KEYS = new Set(['principalId', 'integrationLatency']);
const ROLE_KEYS = {
  cluster: new Set(['role', 'clusterId', 'replicaId']),
  client: new Set(['role', 'sessionId', 'owner']),
} as const;

const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= MAX_ID;

export function identityContext(identity: ConnectionIdentity): AuthorizerContext {
  return identity.role === 'cluster'
    ? {
        role: 'cluster',
        clusterId: identity.clusterId,
        ...(identity.replicaId ? { replicaId: identity.replicaId } : {}),
      }
    : { role: 'client', sessionId: identity.sessionId, owner: identity.owner };
}

/**
 * The identity in an event's `requestContext.authorizer`, or undefined when there is none or its
 * shape is not exactly one this router's authorizer returns (the caller then reads the table).
 */
export function identityFromContext(ctx: unknown): ConnectionIdentity | undefined {
  if (!ctx || typeof ctx !== 'object' || Array.isArray(ctx)) return undefined;
  const c = ctx as Record<string, unknown>;
  if (c.role !== 'cluster' && c.role !== 'client') return undefined;
  const allowed = ROLE_KEYS[c.role];
  for (const k of Object.keys(c)) if (!allowed.has(k) && !GATEWAY_KEYS.has(k)) return undefined;
  if (c.role === 'cluster') {
    if (!isId(c.clusterId)) return undefined;
    if (c.replicaId === undefined) return { role: 'cluster', clusterId: c.clusterId };
    return isReplicaId(c.replicaId)
      ? { role: 'cluster', clusterId: c.clusterId, replicaId: c.replicaId }
      : undefined;
  }
  if (typeof c.sessionId !== 'string' || !SESSION_ID.test(c.sessionId) || !isId(c.owner)) return undefined;
  return { role: 'client', sessionId: c.sessionId, owner: c.owner };
}

/** A refused connection: the authorizer still allows, so $connect can answer with the router's own body. */
export function authErrorContext(status: number, body: string): AuthorizerContext {
  return { authStatus: status, authError: body };
}

export function authErrorFromContext(ctx: unknown): { status: number; body: string } | undefined {
  if (!ctx || typeof ctx !== 'object') return undefined;
  const c = ctx as Record<string, unknown>;
  if (typeof c.authError !== 'string') return undefined;
  // API Gateway may hand numbers back as strings.
  const status = Number(c.authStatus);
  return {
    status: Number.isInteger(status) && status >= 400 && status <= 599 ? status : 401,
    body: c.authError,
  };
}
