import { SwitchyardError } from '../errors/errors.ts';

/**
 * Why the router refused to forward a message. Codes are stable; the text says what to do.
 *
 * - `wrong_direction`       this type does not flow from this side (a client sending `request`)
 * - `not_default_cluster`   a stateful reply from a cluster that is not the default
 * - `not_workload_cluster`  a traffic message from a cluster that runs no workload
 * - `unknown_cluster`       the sender, or a namespaced id, names a cluster not in the topology
 * - `invalid_id`            an id that should carry a cluster namespace does not, or is too long
 * - `missing_session`       a cluster sent a session's message without `sessionId`
 * - `session_mismatch`      a client named a session other than its own
 * - `not_chunkable`         a chunked message the router itself would have to read
 * - `not_your_request`      an answer (`response`, `data`, `close`, `error`, a tunnel frame)
 *                           for a request or tunnel not delivered to the sender's session
 *                           (refused by the connector that holds it; see docs/protocol.md)
 */
export const ROUTING_ERROR_CODES = [
  'wrong_direction',
  'not_default_cluster',
  'not_workload_cluster',
  'unknown_cluster',
  'invalid_id',
  'missing_session',
  'session_mismatch',
  'not_chunkable',
  'not_your_request',
] as const;
export type RoutingErrorCode = (typeof ROUTING_ERROR_CODES)[number];

const FORBIDDEN = new Set<RoutingErrorCode>(['session_mismatch', 'wrong_direction', 'not_your_request']);

export class RoutingError extends SwitchyardError {
  declare readonly code: RoutingErrorCode;

  constructor(code: RoutingErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, FORBIDDEN.has(code) ? 403 : 400, details);
  }
}
