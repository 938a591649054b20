import { isBranchDatabaseName } from '../../shared/branches/names.ts';
import {
  type BranchDropSpec,
  BranchDropSpecSchema,
  type BranchError,
  type BranchProgress,
  type BranchSpec,
  BranchSpecSchema,
  type BranchStatusReport,
} from '../../shared/branches/schemas.ts';
import { isSwitchyardError, ValidationError } from '../../shared/errors/errors.ts';
import { type DatabaseConfig, findDatabase, sourceUrl } from './config.ts';
import type { BranchEngine, BranchSource } from './engine.ts';
import { BranchAbortedError, BranchNameError } from './errors.ts';
import { MysqlBranchEngine } from './mysql/mysql-engine.ts';
import { PostgresBranchEngine } from './postgres/postgres-engine.ts';
import type { DatabaseType } from './url.ts';

export interface BranchRunnerOptions {
  databases: DatabaseConfig[];
  /** Where `urlEnv` URLs are read from. */
  env?: Record<string, string | undefined>;
  /** Sends a `branch.status` report to the router. A failed send is logged; the router re-sends the create. */
  send: (report: BranchStatusReport) => void | Promise<void>;
  engines?: Partial<Record<DatabaseType, BranchEngine>>;
  /** At most one progress report per this many ms (the first and the last always go). */
  progressEveryMs?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

interface Creation {
  generation: string;
  abort: AbortController;
  last?: BranchStatusReport;
  done?: Promise<void>;
}

/**
 * The connector side of `branch.create` / `branch.delete`: validates the message, runs the engine,
 * reports `branch.status`.
 *
 * The router re-sends unfinished specs (after its restart, a reconnect, or simply while a copy
 * runs), so: work on one branch id is serialised; a repeat of the create in progress only
 * re-reports its progress; a create of another generation, or a delete, abandons the one in
 * progress first.
 */
export class BranchRunner {
  private readonly databases: DatabaseConfig[];
  private readonly env: Record<string, string | undefined>;
  private readonly engines: Record<DatabaseType, BranchEngine>;
  private readonly progressEveryMs: number;
  private readonly tails = new Map<string, Promise<void>>();
  private readonly creating = new Map<string, Creation>();

  constructor(private readonly opts: BranchRunnerOptions) {
    this.databases = opts.databases;
    this.env = opts.env ?? process.env;
    this.engines = {
      postgres: opts.engines?.postgres ?? new PostgresBranchEngine(),
      mysql: opts.engines?.mysql ?? new MysqlBranchEngine(),
    };
    this.progressEveryMs = opts.progressEveryMs ?? 1000;
  }

  /** Handles `branch.create`; resolves when the work this message caused is over. */
  create(payload: unknown): Promise<void> {
    const spec = parse(BranchSpecSchema, payload, 'branch.create');
    const running = this.creating.get(spec.id);
    if (running && running.generation === spec.generation) {
      if (running.last) void this.report(running.last);
      return running.done ?? Promise.resolve();
    }
    running?.abort.abort();
    const creation: Creation = { generation: spec.generation, abort: new AbortController() };
    this.creating.set(spec.id, creation);
    creation.done = this.serialise(spec.id, () => this.runCreate(spec, creation));
    return creation.done;
  }

  /** Handles `branch.delete`; resolves when the drop is over (reported either way). */
  drop(payload: unknown): Promise<void> {
    const spec = parse(BranchDropSpecSchema, payload, 'branch.delete');
    this.creating.get(spec.id)?.abort.abort();
    return this.serialise(spec.id, () => this.runDrop(spec));
  }

  /** Creates and drops still running (for a graceful shutdown). */
  async idle(): Promise<void> {
    await Promise.all([...this.tails.values()]);
  }

  /**
   * Abandons every create in progress (shutdown): each leaves a database without its completion
   * marker, which the router's re-sent create drops and makes again.
   */
  async stop(): Promise<void> {
    for (const c of this.creating.values()) c.abort.abort();
    await this.idle();
  }

  /** The env var a session's application reads, pointing at the branch instead of the source. */
  branchEnv(database: string, name: string): Record<string, string> {
    if (!isBranchDatabaseName(name)) throw new BranchNameError(`'${name}' is not a branch database name`);
    const db = findDatabase(this.databases, database);
    return { [db.appEnv]: this.engines[db.type].branchUrl(sourceUrl(db, this.env), name) };
  }

  /** The env of a session that uses these branches (`{database, name}` from its child spec). */
  envForBranches(branches: { database: string; name: string }[]): Record<string, string> {
    return Object.assign({}, ...branches.map((b) => this.branchEnv(b.database, b.name)));
  }

  private serialise(id: string, work: () => Promise<void>): Promise<void> {
    const next = (this.tails.get(id) ?? Promise.resolve()).then(work);
    this.tails.set(id, next);
    void next.finally(() => {
      if (this.tails.get(id) === next) this.tails.delete(id);
    });
    return next;
  }

  private resolve(database: string): { engine: BranchEngine; source: BranchSource; db: DatabaseConfig } {
    const db = findDatabase(this.databases, database);
    return { db, engine: this.engines[db.type], source: { label: db.name, url: sourceUrl(db, this.env) } };
  }

  private async runCreate(spec: BranchSpec, creation: Creation): Promise<void> {
    const base = { id: spec.id, generation: spec.generation };
    try {
      if (creation.abort.signal.aborted) return;
      const { db, engine, source } = this.resolve(spec.database);
      const effective: BranchSpec = db.mode === 'schema' ? { ...spec, mode: 'schema' } : spec;
      let lastSent = 0;
      const progress = (p: BranchProgress) => {
        const report: BranchStatusReport = { ...base, phase: 'pending', progress: p };
        creation.last = report;
        const now = Date.now();
        if (now - lastSent < this.progressEveryMs) return;
        lastSent = now;
        void this.report(report);
      };
      progress({
        message:
          effective.mode === spec.mode
            ? 'starting'
            : 'starting (schema only: rows are never copied from this database)',
        percent: 0,
      });
      const outcome = await engine.create(effective, source, progress, creation.abort.signal);
      const summary =
        outcome.result === 'existing'
          ? 'ready (it already existed)'
          : `ready: ${outcome.tables} tables, ${outcome.rows} rows copied in ${(outcome.ms / 1000).toFixed(1)} s`;
      await this.report({
        ...base,
        phase: 'ready',
        progress: {
          message: summary,
          percent: 100,
          ...(creation.last?.progress?.tablesTotal !== undefined
            ? {
                tablesTotal: creation.last.progress.tablesTotal,
                tablesDone: creation.last.progress.tablesTotal,
              }
            : {}),
          rowsCopied: outcome.rows,
        },
      });
    } catch (err) {
      // Abandoned for a newer create or a delete: that request reports, not this one.
      if (err instanceof BranchAbortedError || creation.abort.signal.aborted) return;
      this.opts.log?.('branch create failed', { id: spec.id, error: describe(err).message });
      await this.report({ ...base, phase: 'failed', error: describe(err) });
    } finally {
      if (this.creating.get(spec.id) === creation) this.creating.delete(spec.id);
    }
  }

  private async runDrop(spec: BranchDropSpec): Promise<void> {
    const base = { id: spec.id, ...(spec.generation ? { generation: spec.generation } : {}) };
    try {
      const { engine, source } = this.resolve(spec.database);
      await engine.drop(source, spec.name);
      await this.report({ ...base, phase: 'deleted' });
    } catch (err) {
      this.opts.log?.('branch drop failed', { id: spec.id, error: describe(err).message });
      await this.report({ ...base, phase: 'failed', error: describe(err) });
    }
  }

  private async report(r: BranchStatusReport): Promise<void> {
    try {
      await this.opts.send(r);
    } catch (err) {
      this.opts.log?.('could not send branch.status', { id: r.id, phase: r.phase, error: String(err) });
    }
  }
}

function parse<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
  },
  payload: unknown,
  what: string,
): T {
  const r = schema.safeParse(payload);
  if (!r.success) throw new ValidationError(`invalid ${what} message: ${r.error.message}`);
  return r.data;
}

function describe(err: unknown): BranchError {
  const message =
    (isSwitchyardError(err) || err instanceof Error ? err.message : String(err)) || 'unknown error';
  return {
    code: isSwitchyardError(err) ? err.code : 'branch_failed',
    message: message.length > 2000 ? `${message.slice(0, 1997)}...` : message,
  };
}
