import type { SwitchyardError } from '../../../shared/errors/errors.ts';
import { ChaosClient, type Setup } from './client.ts';
import { emptyLedger, type Ledger } from './ledger.ts';
import { type Look, Monitor } from './monitor.ts';
import { type Bounds, type ChaosReport, judge } from './oracle.ts';
import { CHAOS_SETTINGS, type ChaosSystem, REDELIVERY_MS } from './system.ts';
import { prng, Traffic } from './traffic.ts';

/** Split filters on `customer` and `tier`: some overlap (0, 1, 2, 3), some are disjoint (4, 5). */
export const FILTERS = [
  { customer: '^acme$' },
  { customer: '^(acme|globex)$' },
  { customer: '^globex$', tier: '^gold$' },
  { tier: '^gold$' },
  { customer: '^initech$' },
  { customer: '^umbrella$', tier: '^silver$' },
] as const;

export const BOUNDS: Bounds = {
  leaseMs: CHAOS_SETTINGS.leaseMs,
  reconcileEveryMs: CHAOS_SETTINGS.reconcileEveryMs,
  splitCacheMs: CHAOS_SETTINGS.splitCacheMs,
  sessionTimeoutMs: CHAOS_SETTINGS.sessionTimeoutMs,
  drainTimeoutMs: CHAOS_SETTINGS.drainTimeoutMs,
  sendGraceMs: CHAOS_SETTINGS.splitSendGraceMs,
  // A loaded 2-core machine: the duties' runs and the monitor's looks take their time too.
  slackMs: Number(process.env.CHAOS_SLACK_MS ?? 5_000),
};

const PING_EVERY_MS = 300;
const SEND_EVERY_MS = 100;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type CreateOutcome =
  | { ok: true; id: string }
  | { ok: false; code: string; message: string; elapsedMs: number };

/**
 * One run against the shared system: its own messages (ids prefixed with the run id), its own
 * sessions, its own ledger. `finish` ends what is left, waits for the system to settle and
 * judges the run.
 */
export class ChaosRun {
  readonly ledger: Ledger = emptyLedger();
  private readonly traffic: Traffic;
  private readonly monitor: Monitor;
  private readonly clients: ChaosClient[] = [];
  readonly log: string[] = [];
  private readonly began = Date.now();

  constructor(
    readonly sys: ChaosSystem,
    readonly runId: string,
    seed: number,
  ) {
    this.traffic = new Traffic(sys, this.ledger, runId, prng(seed), SEND_EVERY_MS);
    this.monitor = new Monitor(sys, this.ledger, this.began);
  }

  note(line: string): void {
    this.log.push(`+${((Date.now() - this.began) / 1000).toFixed(1)}s ${line}`);
    if (process.env.CHAOS_VERBOSE) process.stderr.write(`[chaos ${this.runId}] ${line}\n`);
  }

  start(): void {
    this.traffic.start();
    this.monitor.start();
  }

  async create(filter: number, intercept: boolean, setup: Setup): Promise<CreateOutcome> {
    const tag = intercept ? `${this.runId}-s${this.clients.length}` : undefined;
    const client = new ChaosClient({
      api: this.sys.api,
      sqs: this.sys.sqs('east'),
      queue: 'orders',
      filter: { ...FILTERS[filter]! },
      ...(tag ? { interceptTag: tag } : {}),
      pingEveryMs: PING_EVERY_MS,
      record: (r) => this.ledger.received.push(r),
    });
    this.clients.push(client);
    const began = Date.now();
    try {
      const s = await client.create(setup);
      this.record(s.id, tag, true);
      const rec = this.ledger.sessions.get(s.id)!;
      if (setup !== 'wait') {
        rec.letGoAt = rec.registeredBy;
        rec.letGoBy = setup === 'abort' ? 'delete' : 'abandon';
      }
      return { ok: true, id: s.id };
    } catch (err) {
      // A creation that failed half-way (connected, then a subscribe refused) stops keeping its
      // session alive, like the CLI exiting; what it left behind must go by expiry.
      client.close();
      if (client.id) {
        this.record(client.id, tag, false);
        this.letGo(client.id, 'kill');
      }
      const e = err as SwitchyardError;
      return { ok: false, code: e.code ?? 'unknown', message: e.message, elapsedMs: Date.now() - began };
    }
  }

  /** `registered`: the create call returned, so the session's registration existed by now. */
  private record(id: string, tag: string | undefined, registered: boolean): void {
    const rec = this.ledger.sessions.get(id) ?? { id, createdAt: this.began, lastSeen: {} };
    if (registered) rec.registeredBy ??= Date.now();
    if (tag) rec.interceptTag = tag;
    this.ledger.sessions.set(id, rec);
  }

  client(id: string): ChaosClient | undefined {
    return this.clients.find((c) => c.id === id);
  }

  /** The run let a session go: expiry (or the DELETE) must end it within the bound. */
  letGo(id: string, by: 'delete' | 'silence' | 'kill'): void {
    const rec = this.ledger.sessions.get(id);
    if (rec) {
      rec.letGoAt = Date.now();
      rec.letGoBy = by;
    }
  }

  async killWorker(sessionId: string | undefined): Promise<string> {
    const killed = await this.sys.killWorker(sessionId ? { sessionId } : {});
    if (!killed) return 'no worker to kill';
    if (killed.heldLease) this.ledger.leaseKills.push(Date.now());
    return `killed worker ${killed.pid}${killed.heldLease ? ' (lease holder)' : ''}`;
  }

  async restart(downMs: number): Promise<void> {
    await this.traffic.pause();
    try {
      this.ledger.downtimes.push(await this.sys.restart(downMs));
    } finally {
      this.traffic.resume();
    }
  }

  /** Sessions the system ended on its own (expiry after a restart, a cluster failing it). */
  async closedNow(ids: string[]): Promise<string[]> {
    const closed: string[] = [];
    for (const id of ids) if ((await this.stateOf(id)) === 'closed') closed.push(id);
    return closed;
  }

  async stateOf(id: string): Promise<string | undefined> {
    const item = await this.sys.db.get({ pk: `SESSION#${id}`, sk: 'SESSION' }, { consistent: true });
    return item?.state as string | undefined;
  }

  /**
   * Ends what the run left live (Ctrl-C on each), brings every connector back, stops sending,
   * waits until nothing of any session is left and every message arrived (or the bound passed),
   * and judges.
   */
  async finish(live: string[]): Promise<ChaosReport> {
    for (const id of live) {
      this.letGo(id, 'delete');
      await this.client(id)
        ?.delete()
        .catch((err: Error) => this.note(`DELETE ${id} at the end failed: ${err.message}`));
    }
    for (const id of this.sys.clusters.keys()) await this.sys.connect(id);
    await this.traffic.stopSending();
    const b = BOUNDS;
    const lastEnd = Date.now();
    const deadline =
      lastEnd +
      b.sessionTimeoutMs +
      b.leaseMs * 2 +
      b.reconcileEveryMs +
      b.splitCacheMs +
      b.sendGraceMs +
      b.drainTimeoutMs +
      REDELIVERY_MS +
      b.slackMs * 2;
    let look: Look;
    for (;;) {
      look = await this.monitor.look();
      const received = new Set(this.ledger.received.map((r) => r.id));
      const missing = this.ledger.sent.filter((m) => !received.has(m.id)).length;
      const clean =
        look.open.length +
          look.registrations.length +
          look.liveSplits.length +
          look.draining.length +
          look.outputQueues.length +
          look.subscriptions.length ===
        0;
      if ((clean && missing === 0) || Date.now() > deadline) break;
      await sleep(300);
    }
    this.note(`settled in ${Date.now() - lastEnd} ms`);
    await this.traffic.stop();
    await this.monitor.stop();
    for (const c of this.clients) c.close();
    this.ledger.leftovers = {
      sessionsNotClosed: look.open,
      registrations: look.registrations,
      liveSplits: [...look.liveSplits, ...look.draining],
      outputQueues: await Promise.all(
        look.outputQueues.map(async (url) => ({ name: url, messages: await this.monitor.messagesIn(url) })),
      ),
      subscriptions: look.subscriptions,
    };
    return judge(this.ledger, b);
  }

  /** Teardown after a failure: stop everything this run started. */
  async abort(): Promise<void> {
    for (const c of this.clients) c.close();
    await this.traffic.stop();
    await this.monitor.stop();
  }
}
