import { RoutingError } from '../shared/routing/routing-error.ts';

/**
 * Which bound thing a message from the router answers: a stolen request (its `requestId`) or
 * an outgoing tunnel (its `connId`). Read from the routing head alone, so a chunk is judged at
 * its first frame. Everything else (stateful requests, subscriptions, the router's own
 * control messages) answers nothing and is not bound.
 */
export type AnswerTarget = { kind: 'request'; requestId: string } | { kind: 'tunnel'; connId: string };

const REQUEST_ANSWERS: ReadonlySet<string> = new Set(['response', 'data', 'close', 'error']);
const TUNNEL_FRAMES: ReadonlySet<string> = new Set(['outgoing.data', 'outgoing.close']);

/** A message or a chunk's routing head: the fields an answer is judged on. */
export interface AnswerHead {
  type: string;
  sessionId?: unknown;
  requestId?: unknown;
  connId?: unknown;
}

export function answerTarget(head: AnswerHead): AnswerTarget | undefined {
  if (REQUEST_ANSWERS.has(head.type) && typeof head.requestId === 'string') {
    return { kind: 'request', requestId: head.requestId };
  }
  if (TUNNEL_FRAMES.has(head.type) && typeof head.connId === 'string') {
    return { kind: 'tunnel', connId: head.connId };
  }
  return undefined;
}

/**
 * The refusal sent back to the session that gave an answer it may not give. The text is the
 * same whether the id belongs to another session, is a mirrored copy, ended, or was never
 * issued: a refusal must not tell which.
 */
export function notYourRequest(target: AnswerTarget): RoutingError {
  return target.kind === 'request'
    ? new RoutingError(
        'not_your_request',
        `request '${target.requestId}' is not waiting for an answer from this session: only the session a stolen request was delivered to may answer it, and a mirrored copy takes no answer`,
        { requestId: target.requestId },
      )
    : new RoutingError(
        'not_your_request',
        `connection '${target.connId}' is not an open tunnel of this session: open it with outgoing.connect first`,
        { connId: target.connId },
      );
}
