import fc from 'fast-check';
import type { Setup } from './client.ts';
import { type ChaosRun, FILTERS } from './run.ts';
import { CHAOS_SETTINGS, CLUSTERS } from './system.ts';

/**
 * The model: what the run believes about the system. Sessions it keeps alive (by id), how many
 * it created, which connectors it stopped, how often it restarted the runtime. It predicts
 * each creation's outcome (every cluster connected: ready; one missing: refused naming it) and
 * that a DELETE closes the session at once; everything else is judged by the oracle at the end.
 */
export interface ChaosModel {
  live: string[];
  created: number;
  down: Set<string>;
  restarts: number;
  /** Command kinds that ran (a fixed-seed run must cover them all to mean anything). */
  ran: Set<string>;
}

export const MAX_SESSIONS = 6;
export const MAX_RESTARTS = 1;
/** The longest a step may take (a runtime restart on a loaded machine takes tens of seconds). */
const STEP_LIMIT_MS = 120_000;

export const newModel = (): ChaosModel => ({
  live: [],
  created: 0,
  down: new Set(),
  restarts: 0,
  ran: new Set(),
});

type Cmd = fc.AsyncCommand<ChaosModel, ChaosRun>;

/** Sessions the system ended on its own (expiry across a restart) leave the model's live set. */
async function sync(m: ChaosModel, r: ChaosRun): Promise<void> {
  for (const id of await r.closedNow(m.live)) {
    m.live = m.live.filter((x) => x !== id);
    r.client(id)?.close();
    r.note(`session ${id} ended on its own`);
  }
}

abstract class Base implements Cmd {
  abstract readonly kind: string;
  abstract check(m: Readonly<ChaosModel>): boolean;
  protected abstract act(m: ChaosModel, r: ChaosRun): Promise<string>;
  async run(m: ChaosModel, r: ChaosRun): Promise<void> {
    if (this.kind !== 'connector') m.ran.add(this.kind);
    r.note(`${this.toString()} ...`);
    // A step that hangs is a failure to report with what ran, not a test timeout that says nothing.
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${this} did not finish in ${STEP_LIMIT_MS / 1000} s`)),
        STEP_LIMIT_MS,
      );
    });
    try {
      r.note(`${this.toString()}: ${await Promise.race([this.act(m, r), limit])}`);
    } finally {
      clearTimeout(timer);
    }
    await sync(m, r);
  }
  abstract toString(): string;
}

class Create extends Base {
  readonly kind = 'create';
  constructor(
    readonly filter: number,
    readonly intercept: boolean,
    readonly setup: Setup,
  ) {
    super();
  }
  check(m: Readonly<ChaosModel>) {
    return m.created < MAX_SESSIONS;
  }
  async act(m: ChaosModel, r: ChaosRun) {
    m.created++;
    const out = await r.create(this.filter, this.intercept, this.setup);
    const missing = CLUSTERS.filter((c) => m.down.has(c));
    if (missing.length) {
      if (
        out.ok ||
        out.code !== 'cluster_unavailable' ||
        !missing.every((c) => out.message.includes(`'${c}'`))
      ) {
        throw new Error(
          `${this}: expected a refusal naming ${missing.join(', ')}, got ${JSON.stringify(out)}`,
        );
      }
      return `refused (${out.message})`;
    }
    if (!out.ok) {
      // A set-up slower than the session timeout (a loaded machine) is ended by the router, as
      // designed: the client cannot heartbeat before it connects. A quick failure is a bug.
      if (out.elapsedMs > CHAOS_SETTINGS.sessionTimeoutMs)
        return `too slow (${out.elapsedMs} ms): ${out.message}`;
      throw new Error(`${this}: every cluster is connected, yet ${out.code}: ${out.message}`);
    }
    if (this.setup === 'wait') m.live.push(out.id);
    return `session ${out.id}`;
  }
  toString() {
    return `create(filter ${this.filter}${this.intercept ? ', intercept' : ''}, ${this.setup})`;
  }
}

class LetGo extends Base {
  constructor(
    readonly k: number,
    readonly how: 'delete' | 'silence' | 'kill',
  ) {
    super();
  }
  get kind() {
    return this.how;
  }
  check(m: Readonly<ChaosModel>) {
    return m.live.length > 0;
  }
  async act(m: ChaosModel, r: ChaosRun) {
    const id = m.live[this.k % m.live.length]!;
    m.live = m.live.filter((x) => x !== id);
    r.letGo(id, this.how);
    const client = r.client(id)!;
    if (this.how === 'delete') {
      await client.delete();
      // The DELETE answers once the session is closed.
      const state = await r.stateOf(id);
      if (state !== 'closed') throw new Error(`${this}: session ${id} is ${state} after its DELETE`);
    } else if (this.how === 'kill') await client.kill();
    else await client.silence();
    return `session ${id}`;
  }
  toString() {
    return `${this.how}(${this.k})`;
  }
}

class KillWorker extends Base {
  readonly kind = 'kill-worker';
  constructor(
    readonly k: number,
    readonly ofClient: boolean,
  ) {
    super();
  }
  check() {
    return true;
  }
  act(m: ChaosModel, r: ChaosRun) {
    const id = this.ofClient && m.live.length ? m.live[this.k % m.live.length] : undefined;
    return r.killWorker(id);
  }
  toString() {
    return `kill-worker(${this.ofClient ? `client ${this.k}` : 'lease holder'})`;
  }
}

class Restart extends Base {
  readonly kind = 'restart';
  constructor(readonly downMs: number) {
    super();
  }
  check(m: Readonly<ChaosModel>) {
    return m.restarts < MAX_RESTARTS;
  }
  async act(m: ChaosModel, r: ChaosRun) {
    m.restarts++;
    await r.restart(this.downMs);
    return 'back';
  }
  toString() {
    return `restart(down ${this.downMs} ms)`;
  }
}

/** A cluster's connector goes away; or, when one is gone, that one comes back. */
class Connector extends Base {
  kind = 'connector';
  constructor(readonly cluster: string) {
    super();
  }
  check() {
    return true;
  }
  async act(m: ChaosModel, r: ChaosRun) {
    const gone = [...m.down][0];
    this.kind = gone ? 'connector-back' : 'connector-drop';
    m.ran.add(this.kind);
    if (gone) {
      await r.sys.connect(gone);
      m.down.delete(gone);
      return `${gone} connected again`;
    }
    await r.sys.disconnect(this.cluster);
    m.down.add(this.cluster);
    return `${this.cluster} gone`;
  }
  toString() {
    return `connector(${this.cluster})`;
  }
}

class Pause extends Base {
  readonly kind = 'pause';
  constructor(readonly ms: number) {
    super();
  }
  check() {
    return true;
  }
  async act() {
    await new Promise((r) => setTimeout(r, this.ms));
    return 'done';
  }
  toString() {
    return `pause(${this.ms} ms)`;
  }
}

/** Random interleavings of every way a session, a worker, the runtime or a connector can go. */
export function chaosCommands(maxCommands: number): fc.Arbitrary<Cmd[]> {
  const create = fc
    .record({
      filter: fc.nat(FILTERS.length - 1),
      intercept: fc.boolean(),
      setup: fc.constantFrom<Setup>('wait', 'wait', 'wait', 'abort', 'abandon'),
    })
    .map((c) => new Create(c.filter, c.intercept, c.setup));
  const letGo = fc
    .record({
      k: fc.nat(5),
      how: fc.constantFrom('delete', 'silence', 'kill') as fc.Arbitrary<'delete' | 'silence' | 'kill'>,
    })
    .map(({ k, how }) => new LetGo(k, how));
  // Weights by repetition: sessions come and go more often than the rest breaks. A plain list
  // (commands whose precondition fails are skipped, as with fc.commands), not biased towards short
  // ones: each run is costly, so each should do a fair amount. Runs are not shrunk anyway.
  return fc.noBias(
    fc.array(
      fc.oneof(
        create,
        create,
        create,
        letGo,
        letGo,
        letGo,
        fc
          .record({ k: fc.nat(5), ofClient: fc.boolean() })
          .map(({ k, ofClient }) => new KillWorker(k, ofClient)),
        fc.integer({ min: 0, max: 2_000 }).map((ms) => new Restart(ms)),
        fc.constantFrom(...CLUSTERS).map((cluster) => new Connector(cluster)),
        fc.integer({ min: 200, max: 1_500 }).map((ms) => new Pause(ms)),
      ),
      { minLength: Math.ceil(maxCommands / 2), maxLength: maxCommands },
    ),
  );
}
