import { type ErrorMessage, message, type SubscribedMessage } from '../protocol/messages.ts';

/**
 * A `subscribe` goes to every workload cluster and each answers on its own (`subscribed` or
 * `error`); the client gets ONE `subscribed` naming the clusters that hold the subscription and
 * those that failed. The router is stateless, so the aggregate is a plain JSON object it keeps
 * in the store between invocations, changed only by the pure functions below. Store it with a
 * conditional write on a version: the one writer whose step has `result` sends the answer.
 */

export type SubscribeAnswer = { ok: true } | { ok: false; code: string; message: string };

export interface SubscribeAggregate {
  reqId: string;
  subId: string;
  /** Clusters asked, in the order the answer lists them. */
  expected: string[];
  /** First answer per cluster; later ones are duplicates. */
  answers: Record<string, SubscribeAnswer>;
  /** When the router stops waiting (ms since epoch); optional, see `expireSubscribeAggregate`. */
  deadlineAt?: number;
  complete: boolean;
}

export type IgnoredReason = 'duplicate' | 'unexpected_cluster' | 'other_request' | 'already_complete';

export interface AggregateStep {
  state: SubscribeAggregate;
  /** False when the answer changed nothing: nothing to write. */
  changed: boolean;
  /** The aggregated answer, present only on the step that completes the aggregate. */
  result?: SubscribedMessage;
  ignored?: IgnoredReason;
}

export const TIMEOUT_CODE = 'timeout';

export function startSubscribeAggregate(input: {
  reqId: string;
  subId: string;
  expected: readonly string[];
  deadlineAt?: number;
}): SubscribeAggregate {
  const expected = [...new Set(input.expected)];
  return {
    reqId: input.reqId,
    subId: input.subId,
    expected,
    answers: {},
    ...(input.deadlineAt !== undefined ? { deadlineAt: input.deadlineAt } : {}),
    // Nobody to wait for: already complete (the router still sends the answer it gets from `aggregatedSubscribed`).
    complete: expected.length === 0,
  };
}

/** Record one cluster's answer. Idempotent: the same answer twice leaves the state as once. */
export function addSubscribeAnswer(
  state: SubscribeAggregate,
  clusterId: string,
  answer: SubscribedMessage | ErrorMessage,
): AggregateStep {
  const unchanged = (ignored: IgnoredReason): AggregateStep => ({ state, changed: false, ignored });
  if (state.complete) return unchanged('already_complete');
  if (!state.expected.includes(clusterId)) return unchanged('unexpected_cluster');
  if (answer.reqId !== state.reqId || (answer.subId !== undefined && answer.subId !== state.subId)) {
    return unchanged('other_request');
  }
  if (Object.hasOwn(state.answers, clusterId)) return unchanged('duplicate');

  const recorded: SubscribeAnswer =
    answer.type === 'subscribed' ? { ok: true } : { ok: false, code: answer.code, message: answer.message };
  const answers = { ...state.answers, [clusterId]: recorded };
  const complete = state.expected.every((c) => Object.hasOwn(answers, c));
  const next: SubscribeAggregate = { ...state, answers, complete };
  return complete
    ? { state: next, changed: true, result: aggregatedSubscribed(next)! }
    : { state: next, changed: true };
}

/** Stop waiting: every cluster that has not answered is reported failed with code `timeout`. */
export function forceCompleteSubscribe(state: SubscribeAggregate): AggregateStep {
  if (state.complete) return { state, changed: false, ignored: 'already_complete' };
  const answers = { ...state.answers };
  for (const cluster of state.expected) {
    if (!Object.hasOwn(answers, cluster)) {
      answers[cluster] = {
        ok: false,
        code: TIMEOUT_CODE,
        message: `cluster '${cluster}' did not answer the subscription in time; it may be disconnected`,
      };
    }
  }
  const next: SubscribeAggregate = { ...state, answers, complete: true };
  return { state: next, changed: true, result: aggregatedSubscribed(next)! };
}

/** `forceCompleteSubscribe` once `deadlineAt` has passed; otherwise nothing changes. */
export function expireSubscribeAggregate(state: SubscribeAggregate, now: number): AggregateStep {
  if (state.deadlineAt === undefined || now < state.deadlineAt || state.complete) {
    return { state, changed: false };
  }
  return forceCompleteSubscribe(state);
}

/** The answer for the client, once complete (again, for a resend); undefined before. */
export function aggregatedSubscribed(state: SubscribeAggregate): SubscribedMessage | undefined {
  if (!state.complete) return undefined;
  const clusters: string[] = [];
  const failed: { cluster: string; code: string; message: string }[] = [];
  for (const cluster of state.expected) {
    const answer = state.answers[cluster];
    if (answer?.ok) clusters.push(cluster);
    else if (answer) failed.push({ cluster, code: answer.code, message: answer.message });
  }
  return message('subscribed', { reqId: state.reqId, subId: state.subId, clusters, failed });
}
