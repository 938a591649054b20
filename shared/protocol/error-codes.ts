/**
 * Codes the router and the connector send in `error` (and `child.failed`) frames for what went
 * wrong past the protocol itself: one place that names them all, checked against the protocol
 * document by a test. `ProtocolError` and `RoutingError` codes are listed with their classes.
 */
export const ANSWER_ERROR_CODES = {
  internal: 'a failure nobody foresaw; the text holds only an incident id, the sender’s log has the details',
  not_your_request:
    'an answer (`response`, `error`, chunk) for a request id this session was not given; refused and counted, the real answer still wins',
  cluster_unavailable: 'the cluster the message is for is not connected',
  client_gone:
    'the developer of a stolen request’s session is not connected (a `request`, or a `data` of one, could not be delivered); the cluster serves it from the upstream, or cuts it once its answer has started (a stolen WebSocket)',
  request_too_large:
    'a request the session would have stolen had a body above the connector’s `maxBodyBytes`; the cluster’s own service answered it (sent to that session only, naming method and path)',
  timeout: 'a cluster did not answer a `subscribe` in time (in an aggregated `subscribed`)',
  unknown_service: 'the cluster fronts no service of that name',
  invalid_path: 'the path is not absolute, or longer than the file system allows',
  forbidden_path:
    'the path, as given or after following symlinks, is outside the files the service may read, whether it exists or not; or the connector may not read it',
  not_found: 'no such file, inside the allow-list',
  not_a_directory: '`file.list` on something that is not a directory',
  is_a_directory: '`file.read` on a directory',
  not_a_file: '`file.read` on something that is neither a file nor a directory (a device, a socket)',
  dns_failed: 'the name does not resolve in the cluster',
  outgoing_forbidden: 'the outgoing connection’s host and port are not in the connector’s allow-list',
  duplicate_conn: 'an `outgoing.connect` for a `connId` already open',
  connect_failed: 'the connector could not open the outgoing connection',
} as const satisfies Record<string, string>;

export type AnswerErrorCode = keyof typeof ANSWER_ERROR_CODES;
