import { Logger } from '@aws-lambda-powertools/logger';
import { processOwnerId } from '../../shared/lease/owner.ts';
import type { DutyLogger } from '../../shared/reconcile/duty.ts';
import { Reconciler } from '../../shared/reconcile/reconciler.ts';
import { deps, onResetDeps } from '../lib/deps.ts';
import { queueArnsFromEnv } from '../lib/queue-arns.ts';
import { sessionDeps } from '../lib/session-deps.ts';
import { RECONCILER_DUTIES } from './duties.ts';

const logger = new Logger({ serviceName: 'switchyard-reconciler' });

const log: DutyLogger = {
  info: (message, extra) => logger.info(message, { ...extra }),
  warn: (message, extra) => logger.warn(message, { ...extra }),
  error: (message, extra) => logger.error(message, { ...extra }),
};

export interface ReconcilerResult {
  leader: boolean;
  token?: number;
  ran: string[];
  failed: string[];
}

// One per process: a warm Lambda container or a local replica keeps its holding between runs.
let reconciler: Reconciler | undefined;
onResetDeps(() => {
  reconciler = undefined;
});

/** Scheduled (EventBridge on AWS, the scheduler in the local runtime): one reconciler run. */
export async function handler(): Promise<ReconcilerResult> {
  const { deps: d, messenger } = sessionDeps();
  reconciler ??= new Reconciler({
    store: d.store,
    owner: processOwnerId(),
    settings: d.settings,
    topology: d.topology,
    // Every port a duty may declare (ReconcileDeps): the function deps, the messenger, and the
    // fallback queues of other accounts.
    deps: { ...deps(), messenger, queueArns: queueArnsFromEnv() },
    duties: () => RECONCILER_DUTIES,
    clock: { now: d.now },
    log,
  });
  const report = await reconciler.run();
  const summary = {
    leader: report.leader,
    token: report.token,
    ran: report.ran,
    failed: report.failed,
    skipped: report.skipped,
    ...(report.holder ? { holder: report.holder.owner } : {}),
    ...(report.stopped ? { stopped: report.stopped } : {}),
  };
  if (report.failed.length) logger.warn('reconciler run', summary);
  // Routine runs are debug: a run every few seconds would drown everything else (POWERTOOLS_LOG_LEVEL=DEBUG shows them).
  else logger.debug('reconciler run', summary);
  return {
    leader: report.leader,
    ...(report.token !== undefined ? { token: report.token } : {}),
    ran: report.ran,
    failed: report.failed,
  };
}

/**
 * Gives the lease up on graceful shutdown (the local runtime on Ctrl-C), so another replica takes
 * over at its next run instead of after `leaseMs`. A no-op when this process never led.
 */
export async function release(): Promise<void> {
  await reconciler?.release();
}
