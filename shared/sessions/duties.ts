import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Messenger } from '../messaging/messenger.ts';
import type { Duty, DutyContext } from '../reconcile/duty.ts';
import { fencedStore } from '../reconcile/fenced-store.ts';
import { sessionFeatures } from './feature-set.ts';
import { childSpec, expireSessions, type SessionDeps } from './lifecycle.ts';
import { listSessions } from './sessions.ts';

declare module '../reconcile/duty.ts' {
  interface ReconcileDeps {
    messenger: Messenger;
    /** Names output queues; the session features need it (features are built whole, see features.ts). */
    stage: string;
    sqs: SQSClient;
    sqsFor: (region: string) => SQSClient;
  }
}

/**
 * Session duties of the reconciler. Each is a conditional state transition (on the expected
 * state), so a run repeated after a crash can only repeat a transition that is still allowed;
 * and every write goes through the lease's fenced writer, so a deposed leader's late write is
 * refused. The features (the release every ending runs) write through the same fenced store.
 */
function sessionDeps(ctx: DutyContext): SessionDeps {
  const store = fencedStore(ctx);
  return {
    store,
    topology: ctx.topology,
    settings: ctx.settings,
    messenger: ctx.deps.messenger,
    now: ctx.now,
    features: sessionFeatures({
      store,
      sqs: ctx.deps.sqs,
      sqsFor: ctx.deps.sqsFor,
      topology: ctx.topology,
      settings: ctx.settings,
      stage: ctx.deps.stage,
      now: ctx.now,
      ...(ctx.deps.queueArns ? { queueArns: ctx.deps.queueArns } : {}),
      logger: ctx.log,
    }),
  };
}

/** Sessions whose client stopped sending heartbeats end; creations stuck on a silent cluster fail; half-done endings finish. */
export const expireSessionsDuty: Duty = {
  name: 'expire-sessions',
  run: (ctx: DutyContext) => expireSessions(sessionDeps(ctx)),
};

/**
 * A child still pending (its child.create was lost: a connector that dropped between the
 * router's send and its answer) is asked again, and a young session's child is sent once more
 * to every connector replica. Connectors treat a repeated create as the same.
 */
export const resendChildrenDuty: Duty = {
  name: 'resend-children',
  async run(ctx: DutyContext) {
    const deps = sessionDeps(ctx);
    let resent = 0;
    const now = ctx.now();
    for (const s of await listSessions(ctx.store)) {
      if (s.state !== 'pending' && s.state !== 'ready') continue;
      for (const c of Object.values(s.clusters)) {
        if (!ctx.isLeader()) return { resent, stopped: true };
        // Give a fresh child its first answer time before asking again.
        const unanswered =
          (c.state === 'pending' || c.state === 'disconnected') && now - c.updatedAt > ctx.settings.renewMs;
        // A young session once more to every replica: one that registered while the session was
        // created may have missed it (its hello lists children through the lagging kind index).
        const young = c.state === 'ready' && now - s.createdAt < 2 * ctx.settings.reconcileEveryMs;
        if (unanswered || young) {
          const sent = await deps.messenger.toCluster(c.clusterId, {
            v: 1,
            type: 'child.create',
            sessionId: s.id,
            childId: c.childId,
            spec: await childSpec(deps, s, c.clusterId),
          });
          if (sent) resent++;
        }
      }
    }
    return { resent };
  },
};
