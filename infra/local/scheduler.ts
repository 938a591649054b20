import { randomUUID } from 'node:crypto';
import type { ScheduledEvent } from 'aws-lambda';
import type { ReconcilerHandler } from './handlers.ts';
import { lambdaContext } from './lambda-context.ts';
import type { LocalLog } from './log.ts';

export interface Scheduler {
  stop(): Promise<void>;
}

const HANDLER_TIMEOUT_MS = 60_000;

/** The event an EventBridge schedule rule sends. */
export function scheduledEvent(region: string, now = Date.now()): ScheduledEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: new Date(now).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}:000000000000:rule/switchyard-local-reconcile`],
    detail: {},
  };
}

/**
 * Runs the reconciler once at start and then every `everyMs` after the previous run ended, so
 * runs never overlap (on AWS the lease makes overlapping runs harmless; here they simply do not
 * happen). A failing run is logged and the schedule goes on.
 *
 * `wakeWithinMs`, asked after every run, may bring the next run closer (never further): a standby
 * replica uses it to run right after the leader's lease expires, so a dead leader's duties move
 * within one lease period instead of up to a lease period plus `everyMs`.
 */
export function startScheduler(opts: {
  everyMs: number;
  handler: ReconcilerHandler;
  region: string;
  log: LocalLog;
  wakeWithinMs?: () => Promise<number | undefined>;
}): Scheduler {
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  const run = async (): Promise<void> => {
    try {
      await opts.handler(
        scheduledEvent(opts.region),
        lambdaContext('reconciler', opts.region, HANDLER_TIMEOUT_MS),
      );
    } catch (err) {
      opts.log.error('reconciler run failed', err);
    }
  };

  const nextDelay = async (): Promise<number> => {
    if (!opts.wakeWithinMs) return opts.everyMs;
    try {
      const within = await opts.wakeWithinMs();
      return within === undefined ? opts.everyMs : Math.max(0, Math.min(opts.everyMs, within));
    } catch (err) {
      opts.log.warn('could not read when to run the reconciler next', err);
      return opts.everyMs;
    }
  };

  const tick = (): void => {
    running = run()
      .then(nextDelay)
      .then((delay) => {
        running = undefined;
        if (!stopped) timer = setTimeout(tick, delay);
      });
  };
  timer = setTimeout(tick, 0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
