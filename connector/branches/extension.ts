import type { Connector, ConnectorExtension } from '../connector.ts';
import type { DatabaseConfig } from './config.ts';
import type { BranchEngine } from './engine.ts';
import { BranchRunner } from './runner.ts';
import type { DatabaseType } from './url.ts';

const SPEC_FIELDS = ['id', 'database', 'name', 'mode', 'generation'] as const;

/** The branch fields of a message, without its envelope (`v`, `type`, ...). */
function payload(m: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(SPEC_FIELDS.filter((k) => m[k] !== undefined).map((k) => [k, m[k]]));
}

export interface BranchExtensionOptions {
  databases: DatabaseConfig[];
  env?: Record<string, string | undefined>;
  engines?: Partial<Record<DatabaseType, BranchEngine>>;
  log?: (line: Record<string, unknown>) => void;
}

/**
 * Plugs branching into the connector: `branch.create` / `branch.delete` from the router go to the
 * runner (a create runs in the background: the connection keeps serving other messages), and its
 * reports go back as `branch.status`. Message fields are the spec's, next to the envelope:
 * `{"v":1,"type":"branch.create","id":"feat","database":"orders","name":"sy_branch_feat","mode":"all","generation":"..."}`.
 */
export function branchExtension(opts: BranchExtensionOptions): ConnectorExtension & { runner: BranchRunner } {
  let connector: Connector | undefined;
  const log = (message: string, fields: Record<string, unknown> = {}) =>
    opts.log?.({ level: 'WARN', message, ...fields });
  const runner = new BranchRunner({
    databases: opts.databases,
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.engines ? { engines: opts.engines } : {}),
    log,
    send: (report) => {
      // Not connected: the report is lost, and the router's re-sent create or drop (both
      // idempotent) brings it again once the connector is back.
      if (!connector?.send({ type: 'branch.status', ...report }))
        throw new Error('not connected to the router');
    },
  });
  return {
    runner,
    types: ['branch.create', 'branch.delete'],
    onOpen(c) {
      connector = c;
    },
    handle(m, c) {
      connector = c;
      try {
        const work = m.type === 'branch.create' ? runner.create(payload(m)) : runner.drop(payload(m));
        work.catch((err) => log('branch work failed', { type: m.type, error: String(err) }));
      } catch (err) {
        log('invalid branch message', { type: m.type, error: (err as Error).message });
      }
    },
    sessionEnv(spec) {
      const branches = Array.isArray(spec.branches)
        ? (spec.branches as { database: string; name: string }[])
        : [];
      return branches.length ? runner.envForBranches(branches) : {};
    },
    stop: () => runner.stop(),
  };
}
