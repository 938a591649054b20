import {
  addSubscribeAnswer,
  aggregatedSubscribed,
  type SubscribeAggregate,
  startSubscribeAggregate,
} from '../routing/subscribe-aggregate.ts';
import type { SessionDeps } from '../sessions/lifecycle.ts';
import { editSubscriptions } from '../sessions/sessions.ts';
import { KINDS } from '../store/keys.ts';
import { type Change, updateOnVersion } from '../store/versioned.ts';

type Msg = Record<string, unknown> & { type: string };

const SUBREQ = (reqId: string) => `SUBREQ#${reqId}`;

/**
 * A subscribe's answers from every cluster, gathered in the table (`SESSION#<id> / SUBREQ#<reqId>`)
 * because each answer may reach another router instance: the writer whose answer completes the
 * aggregate sends the client one `subscribed` (exactly once); the subscribe duty answers for the
 * clusters that never did (subscribe-duty.ts).
 */
export class SubscribeAggregates {
  constructor(
    private readonly deps: SessionDeps,
    private readonly toClient: (sessionId: string, msg: Msg) => Promise<void>,
  ) {}

  /**
   * A client's `subscribe`: remembered on the session, an aggregate stored for the answers to
   * come, the message sent to every target cluster (an unreachable one is answered for at once).
   */
  async start(sessionId: string, msg: Msg, targets: string[]): Promise<void> {
    const { store } = this.deps;
    const sub = {
      subId: msg.subId as string,
      service: msg.service as string,
      mode: msg.mode as 'steal' | 'mirror',
      filter: msg.filter as Record<string, unknown>,
    };
    // Remembered on the session first, so a cluster that (re)connects later gets it in its child spec.
    await editSubscriptions(store, sessionId, (subs) => [...subs.filter((s) => s.subId !== sub.subId), sub]);
    let state: SubscribeAggregate = startSubscribeAggregate({
      reqId: msg.reqId as string,
      subId: sub.subId,
      expected: targets,
      deadlineAt: this.deps.now() + this.deps.settings.childReadyTimeoutMs,
    });
    const key = { pk: `SESSION#${sessionId}`, sk: SUBREQ(state.reqId) };
    await store.put({
      ...key,
      kind: KINDS.subscribeAggregate,
      sessionId,
      aggregate: state,
      expiresAt: state.deadlineAt,
    });
    for (const c of targets) {
      if (await this.deps.messenger.toCluster(c, msg)) continue;
      const step = addSubscribeAnswer(state, c, {
        v: 1,
        type: 'error',
        reqId: state.reqId,
        subId: state.subId,
        code: 'cluster_unavailable',
        message: `cluster '${c}' is not connected`,
      } as never);
      state = step.state;
    }
    await this.save(sessionId, state);
  }

  /** Stores one answer; the writer whose step completes the aggregate sends it (exactly once). */
  async answer(clusterId: string, msg: Msg): Promise<void> {
    const sessionId = msg.sessionId as string;
    const key = { pk: `SESSION#${sessionId}`, sk: SUBREQ(msg.reqId as string) };
    const done = await updateOnVersion(
      this.deps.store,
      key,
      (item): Change<Msg | undefined> => {
        if (!item) return { skip: undefined };
        const step = addSubscribeAnswer(item.aggregate as SubscribeAggregate, clusterId, {
          v: 1,
          ...msg,
        } as never);
        if (!step.changed) return { skip: undefined };
        return { write: { aggregate: step.state }, result: step.result as unknown as Msg | undefined };
      },
      { what: `the subscribe ${msg.reqId as string} of session ${sessionId}` },
    );
    if (done) await this.finish(sessionId, done);
  }

  private async save(sessionId: string, state: SubscribeAggregate): Promise<void> {
    const key = { pk: `SESSION#${sessionId}`, sk: SUBREQ(state.reqId) };
    if (state.complete) {
      await this.finish(sessionId, aggregatedSubscribed(state) as unknown as Msg);
      return;
    }
    // Answers may have landed between the put and now: merge, never overwrite them.
    const merged = await updateOnVersion(
      this.deps.store,
      key,
      (item): Change<SubscribeAggregate | undefined> => {
        if (!item) return { skip: undefined };
        let merged = item.aggregate as SubscribeAggregate;
        for (const [c, a] of Object.entries(state.answers)) {
          if (!Object.hasOwn(merged.answers, c) && !a.ok) {
            merged = addSubscribeAnswer(merged, c, {
              v: 1,
              type: 'error',
              reqId: state.reqId,
              subId: state.subId,
              code: a.code,
              message: a.message,
            } as never).state;
          }
        }
        if (merged === item.aggregate) return { skip: undefined };
        return { write: { aggregate: merged }, result: merged };
      },
      { what: `the subscribe ${state.reqId} of session ${sessionId}` },
    );
    if (merged?.complete) {
      await this.finish(sessionId, aggregatedSubscribed(merged) as unknown as Msg);
    }
  }

  private async finish(sessionId: string, answer: Msg): Promise<void> {
    await this.deps.store
      .delete({ pk: `SESSION#${sessionId}`, sk: SUBREQ(answer.reqId as string) })
      .catch(() => {});
    await this.toClient(sessionId, { ...answer, sessionId });
  }
}
