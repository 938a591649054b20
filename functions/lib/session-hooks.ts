import { extendTtl, getBranch } from '../../shared/branches/branches.ts';
import { branchDatabaseName } from '../../shared/branches/names.ts';
import { defaultCluster } from '../../shared/config/topology.ts';
import { ValidationError } from '../../shared/errors/errors.ts';
import type { SessionHooks } from '../../shared/sessions/lifecycle.ts';
import { endSessionSplits } from '../../shared/split/end.ts';
import { registerSessionSplits } from '../../shared/split/register.ts';
import type { Deps } from './deps.ts';

/** The features a session reaches into: its SQS splits and its database branches. */
export function sessionHooks(d: Deps): SessionHooks {
  const ctx = {
    store: d.store,
    sqs: d.sqs,
    sqsFor: d.sqsFor,
    topology: d.topology,
    settings: d.settings,
    stage: d.stage,
    now: d.now,
  };
  const defaultId = defaultCluster(d.topology).id;
  return {
    registerSplits: (s) =>
      registerSessionSplits(ctx, {
        sessionId: s.id,
        createdAt: s.createdAt,
        owner: s.owner,
        splits: s.splits,
      }),
    endSplits: async (s) => {
      await endSessionSplits(ctx, s.id);
    },
    /** The session's branches must be the owner's, of the named database, and not failed or gone. */
    async attachBranches(s) {
      for (const [database, id] of Object.entries(s.branches ?? {})) {
        const b = await getBranch(d.store, s.owner, id, d.now());
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
        await extendTtl(d.store, ids, d.now() + d.settings.sessionTimeoutMs * 2, {
          owner: s.owner,
          now: d.now(),
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
