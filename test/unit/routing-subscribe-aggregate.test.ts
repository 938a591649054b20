import { describe, expect, it } from 'vitest';
import { parseMessageObject } from '../../shared/protocol/codec.ts';
import { type ErrorMessage, message, type SubscribedMessage } from '../../shared/protocol/messages.ts';
import {
  type AggregateStep,
  addSubscribeAnswer,
  aggregatedSubscribed,
  expireSubscribeAggregate,
  forceCompleteSubscribe,
  type SubscribeAggregate,
  startSubscribeAggregate,
} from '../../shared/routing/subscribe-aggregate.ts';

const ok = (over: Partial<SubscribedMessage> = {}): SubscribedMessage =>
  message('subscribed', { reqId: 'r1', subId: 's1', ...over });
const failed = (code: string, over: Partial<ErrorMessage> = {}): ErrorMessage =>
  message('error', { reqId: 'r1', subId: 's1', code, message: `it failed: ${code}`, ...over });

const start = (expected = ['eu-west', 'us-east', 'ap-south'], deadlineAt?: number) =>
  startSubscribeAggregate({ reqId: 'r1', subId: 's1', expected, ...(deadlineAt ? { deadlineAt } : {}) });

/** Apply answers in turn, through a JSON round trip, as the router does via the store. */
function applyAll(
  state: SubscribeAggregate,
  answers: [string, SubscribedMessage | ErrorMessage][],
): AggregateStep[] {
  const steps: AggregateStep[] = [];
  let current = state;
  for (const [cluster, answer] of answers) {
    const step = addSubscribeAnswer(JSON.parse(JSON.stringify(current)), cluster, answer);
    steps.push(step);
    current = step.state;
  }
  return steps;
}

describe('subscribe aggregation', () => {
  it('answers nothing until every expected cluster answered, then once', () => {
    // Act
    const steps = applyAll(start(), [
      ['us-east', ok()],
      ['ap-south', failed('service_not_found')],
      ['eu-west', ok()],
    ]);
    // Assess
    expect(steps.map((s) => s.result)).toEqual([undefined, undefined, expect.any(Object)]);
    const result = steps[2]!.result!;
    expect(result).toEqual({
      v: 1,
      type: 'subscribed',
      reqId: 'r1',
      subId: 's1',
      clusters: ['eu-west', 'us-east'], // in the order expected, not the order answered
      failed: [{ cluster: 'ap-south', code: 'service_not_found', message: 'it failed: service_not_found' }],
    });
    expect(parseMessageObject(result)).toEqual(result);
  });

  it('is idempotent: a duplicate answer changes nothing and reports why', () => {
    const [first, dup, changedMind] = applyAll(start(), [
      ['us-east', ok()],
      ['us-east', ok()],
      ['us-east', failed('late')],
    ]);
    expect(first!.changed).toBe(true);
    expect(dup).toMatchObject({ changed: false, ignored: 'duplicate' });
    expect(dup!.state).toEqual(first!.state);
    expect(changedMind).toMatchObject({ changed: false, ignored: 'duplicate' });
    expect(changedMind!.state.answers['us-east']).toEqual({ ok: true });
  });

  it.each<[string, string, SubscribedMessage | ErrorMessage, string]>([
    ['a cluster that was not asked', 'mars', ok(), 'unexpected_cluster'],
    ['another reqId', 'eu-west', ok({ reqId: 'r2' }), 'other_request'],
    ['another subId', 'eu-west', ok({ subId: 's2' }), 'other_request'],
    ['an error for another subId', 'eu-west', failed('x', { subId: 's2' }), 'other_request'],
  ])('ignores an answer from %s', (_name, cluster, answer, reason) => {
    const state = start();
    const step = addSubscribeAnswer(state, cluster, answer);
    expect(step).toEqual({ state, changed: false, ignored: reason });
  });

  it('accepts an error answer without subId (it names the reqId)', () => {
    const step = addSubscribeAnswer(
      start(['eu-west']),
      'eu-west',
      failed('bad_filter', { subId: undefined }),
    );
    expect(step.result?.failed).toEqual([
      { cluster: 'eu-west', code: 'bad_filter', message: 'it failed: bad_filter' },
    ]);
  });

  it('emits the answer on exactly one step, even when answers keep coming', () => {
    const steps = applyAll(start(['eu-west', 'us-east']), [
      ['eu-west', ok()],
      ['us-east', ok()],
      ['us-east', ok()],
      ['eu-west', failed('x')],
    ]);
    expect(steps.filter((s) => s.result !== undefined)).toHaveLength(1);
    expect(steps.slice(2).map((s) => s.ignored)).toEqual(['already_complete', 'already_complete']);
    // ...and can be rebuilt for a resend.
    expect(aggregatedSubscribed(steps.at(-1)!.state)).toEqual(steps[1]!.result);
  });

  it('reports clusters that never answered as failed with code timeout when forced', () => {
    const [step] = applyAll(start(), [['eu-west', ok()]]);
    const forced = forceCompleteSubscribe(step!.state);
    expect(forced.changed).toBe(true);
    expect(forced.result).toMatchObject({
      clusters: ['eu-west'],
      failed: [
        { cluster: 'us-east', code: 'timeout', message: expect.stringMatching(/'us-east' did not answer/) },
        { cluster: 'ap-south', code: 'timeout' },
      ],
    });
    // A late answer after the deadline changes nothing.
    expect(addSubscribeAnswer(forced.state, 'us-east', ok())).toMatchObject({ ignored: 'already_complete' });
    const again = forceCompleteSubscribe(forced.state);
    expect(again.changed).toBe(false);
    expect(again.result).toBeUndefined();
  });

  it('completes at its deadline, not before', () => {
    const state = start(['eu-west'], 5000);
    expect(expireSubscribeAggregate(state, 4999)).toEqual({ state, changed: false });
    expect(expireSubscribeAggregate(state, 5000).result?.failed).toEqual([
      expect.objectContaining({ cluster: 'eu-west', code: 'timeout' }),
    ]);
    const noDeadline = start(['eu-west']);
    expect(expireSubscribeAggregate(noDeadline, Number.MAX_SAFE_INTEGER).changed).toBe(false);
  });

  it('is a plain JSON object that survives the store unchanged', () => {
    const [, step] = applyAll(start(undefined, 1000), [
      ['eu-west', ok()],
      ['ap-south', failed('x')],
    ]);
    expect(JSON.parse(JSON.stringify(step!.state))).toEqual(step!.state);
  });

  it('with nobody to ask, is complete at once with an empty answer', () => {
    const state = start([]);
    expect(state.complete).toBe(true);
    expect(aggregatedSubscribed(state)).toMatchObject({ clusters: [], failed: [] });
  });

  it('counts each expected cluster once even if listed twice', () => {
    const state = start(['eu-west', 'eu-west']);
    expect(state.expected).toEqual(['eu-west']);
    expect(addSubscribeAnswer(state, 'eu-west', ok()).result?.clusters).toEqual(['eu-west']);
  });

  it('does not change the state it was given', () => {
    const state = Object.freeze(start());
    const snapshot = structuredClone(state);
    addSubscribeAnswer(state, 'eu-west', ok());
    forceCompleteSubscribe(state);
    expect(state).toEqual(snapshot);
  });
});
