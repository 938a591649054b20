import type { SQSClient } from '@aws-sdk/client-sqs';
import { extendTtl, getBranch } from '../branches/branches.ts';
import { branchDatabaseName } from '../branches/names.ts';
import type { Settings } from '../config/settings.ts';
import { defaultCluster, type Topology } from '../config/topology.ts';
import { ValidationError } from '../errors/errors.ts';
import type { SplitLogger } from '../split/context.ts';
import { endSessionSplits, splitHolders } from '../split/end.ts';
import { registerSessionSplits } from '../split/register.ts';
import type { Store } from '../store/store.ts';
import type { SessionFeatures } from './features.ts';

/** What the session features need: the store they write through, and the SQS clients of the splits. */
export interface FeaturePorts {
  store: Store;
  sqs: SQSClient;
  sqsFor: (region: string) => SQSClient;
  topology: Topology;
  settings: Settings;
  /** Names the output queues (`switchyard-<stage>_...`). */
  stage: string;
  now: () => number;
  queueArns?: Readonly<Record<string, string>>;
  logger?: SplitLogger;
}

/**
 * The features of a session, as the router has them: SQS splits and database branches. The http
 * and ws functions build them on their store; the reconciler's duties on its fenced store, so the
 * release a duty runs is fenced like every other write it makes.
 */
export function sessionFeatures(p: FeaturePorts): SessionFeatures {
  const split = {
    store: p.store,
    sqs: p.sqs,
    sqsFor: p.sqsFor,
    topology: p.topology,
    settings: p.settings,
    stage: p.stage,
    now: p.now,
    ...(p.queueArns ? { queueArns: p.queueArns } : {}),
    ...(p.logger ? { logger: p.logger } : {}),
  };
  const defaultId = defaultCluster(p.topology).id;
  return {
    registerSplits: (s) =>
      registerSessionSplits(split, {
        sessionId: s.id,
        createdAt: s.createdAt,
        owner: s.owner,
        splits: s.splits,
      }),
    async release(s) {
      // Sessions without splits hold no split item: skip the query.
      if (s.splits?.length) await endSessionSplits(split, s.id);
    },
    holders: () => splitHolders(p.store),
    /** The session's branches must be the owner's, of the named database, and not failed or gone. */
    async attachBranches(s) {
      for (const [database, id] of Object.entries(s.branches ?? {})) {
        const b = await getBranch(p.store, s.owner, id, p.now());
        if (b.database !== database) {
          throw new ValidationError(`branch '${id}' is a branch of '${b.database}', not of '${database}'`);
        }
        if (b.phase === 'failed' || b.phase === 'deleting' || b.phase === 'deleted') {
          throw new ValidationError(
            `branch '${id}' is ${b.phase}${b.error ? ` (${b.error.message})` : ''}: create it again with \`switchyard branch create ${database} --id ${id}\``,
          );
        }
      }
      const ids = Object.values(s.branches ?? {});
      if (ids.length)
        await extendTtl(p.store, ids, p.now() + p.settings.sessionTimeoutMs * 2, {
          owner: s.owner,
          now: p.now(),
        });
    },
    /** The default cluster's connector holds the credentials, so it builds the branch URLs for env.get. */
    async childSpecExtras(s, clusterId) {
      if (clusterId !== defaultId || !s.branches) return {};
      return {
        branches: Object.entries(s.branches).map(([database, id]) => ({
          database,
          id,
          name: branchDatabaseName(id),
        })),
      };
    },
  };
}
