/**
 * WebSocket close codes the router gives a connection it closes on purpose. 4000-4999 is the
 * range RFC 6455 (7.4.2) leaves to applications.
 *
 * API Gateway's DeleteConnection carries no close code, so on AWS the same facts travel first in
 * an `error` frame (`code` below, `closeCode` the number) and the close that follows is API
 * Gateway's own; the local gateway closes with the code itself. A client must treat either as final.
 */
export interface CloseReason {
  /** The close code, 4000-4999. */
  code: number;
  /** The `error` frame's code. */
  name: string;
  /** The close frame's reason (at most 123 bytes) and the error frame's message. */
  reason: string;
}

/**
 * A newer connection took the session over (a second `switchyard` for the same session, or a
 * resume that raced its own drop). Do not reconnect: that would take it back, and the two would
 * take turns forever.
 */
export const REPLACED: CloseReason = {
  code: 4001,
  name: 'connection_replaced',
  reason: 'replaced by a newer connection',
};
