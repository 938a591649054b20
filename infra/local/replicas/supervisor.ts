import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { SwitchyardError } from '../../../shared/errors/errors.ts';
import type { LocalLog } from '../log.ts';
import { REPLICA_ENV, STOP, type WorkerConfig, WorkerMessageSchema } from './protocol.ts';

/** A worker could not start (the port is taken, ...): the whole runtime refuses to start. */
export class ReplicaStartError extends SwitchyardError {
  constructor(index: number, code: string, message: string) {
    // The worker's own message already says what to do (e.g. which flag to pass).
    super(code, message, 500, { replica: index });
  }
}

export interface ReplicaInfo {
  index: number;
  pid: number;
  privatePort: number;
  startedAt: number;
  /** How many times this slot's worker was started again after dying. */
  restarts: number;
}

interface Slot {
  index: number;
  worker?: Worker;
  info?: ReplicaInfo;
  restarts: number;
  /** Deaths in a row that came soon after a start: they back the next start off. */
  quickDeaths: number;
  restartTimer?: NodeJS.Timeout;
}

const WORKER_ENTRY = fileURLToPath(new URL('./worker-entry.js', import.meta.url));
const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 15_000;
/** A worker that dies sooner than this after starting counts as crash-looping. */
const QUICK_DEATH_MS = 5_000;
const MAX_RESTART_DELAY_MS = 10_000;

/**
 * Keeps N router workers running behind one port with Node's cluster module (the primary
 * accepts connections and hands them out round-robin). A worker that dies, however it dies, is
 * logged and started again in its slot (backing off when it keeps dying right after start).
 * `stop()` asks every worker to stop cleanly and waits; a worker that does not stop in time is
 * killed.
 */
export class Supervisor {
  private readonly slots: Slot[];
  private port: number;
  private stopping = false;

  constructor(
    private readonly opts: {
      replicas: number;
      config: Omit<WorkerConfig, 'index' | 'port'>;
      port: number;
      log: LocalLog;
    },
  ) {
    if (!cluster.isPrimary) throw new Error('replicas are started from the primary process only');
    this.port = opts.port;
    this.slots = Array.from({ length: opts.replicas }, (_, i) => ({
      index: i + 1,
      restarts: 0,
      quickDeaths: 0,
    }));
  }

  /** Starts every worker; resolves with the shared port once all of them serve. */
  async start(): Promise<number> {
    cluster.setupPrimary({ exec: WORKER_ENTRY, execArgv: [], args: [], silent: false });
    // Every worker asks for the same concrete port, so they share one listening socket, and a
    // worker started again later (even after all of them died) gets the same URL back.
    if (this.port === 0) this.port = await freePort();
    await Promise.all(this.slots.map((s) => this.fork(s)));
    return this.port;
  }

  workers(): ReplicaInfo[] {
    return this.slots.flatMap((s) => (s.info ? [{ ...s.info }] : []));
  }

  private fork(slot: Slot): Promise<ReplicaInfo> {
    const config: WorkerConfig = { ...this.opts.config, index: slot.index, port: this.port };
    const worker = cluster.fork({ [REPLICA_ENV]: JSON.stringify(config) });
    slot.worker = worker;
    const startedAt = Date.now();
    return new Promise<ReplicaInfo>((resolve, reject) => {
      let ready = false;
      const timer = setTimeout(() => {
        if (ready) return;
        worker.process.kill('SIGKILL');
        reject(
          new ReplicaStartError(slot.index, 'replica_timeout', `replica ${slot.index} did not start in time`),
        );
      }, START_TIMEOUT_MS);
      worker.on('message', (raw: unknown) => {
        const parsed = WorkerMessageSchema.safeParse(raw);
        if (!parsed.success) return;
        const m = parsed.data;
        if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new ReplicaStartError(slot.index, m.code, m.message));
          return;
        }
        ready = true;
        clearTimeout(timer);
        slot.info = {
          index: slot.index,
          pid: m.pid,
          privatePort: m.privatePort,
          startedAt,
          restarts: slot.restarts,
        };
        resolve(slot.info);
      });
      worker.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (slot.worker === worker) slot.worker = undefined;
        if (!ready) {
          reject(
            new ReplicaStartError(
              slot.index,
              'replica_failed',
              `replica ${slot.index} exited while starting (${signal ?? `code ${code}`})`,
            ),
          );
          // At start-up the runtime gives up; later, the restart that forked it tries again.
          return;
        }
        slot.info = undefined;
        if (this.stopping) return;
        this.opts.log.warn(
          `replica ${slot.index} (pid ${worker.process.pid}) exited (${signal ?? `code ${code}`}); starting a new one`,
        );
        this.restartLater(slot, startedAt);
      });
    });
  }

  private restartLater(slot: Slot, startedAt: number): void {
    slot.quickDeaths = Date.now() - startedAt < QUICK_DEATH_MS ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths === 0 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 250 * 2 ** slot.quickDeaths);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (this.stopping) return;
      slot.restarts++;
      this.fork(slot).then(
        (info) => this.opts.log.info(`replica ${slot.index} started again (pid ${info.pid})`),
        (err) => {
          this.opts.log.error(`replica ${slot.index} did not start again`, err);
          // Keep trying: the slot stays empty only while the runtime stops.
          if (!this.stopping && !slot.worker) this.restartLater(slot, Date.now());
        },
      );
    }, delay);
  }

  /** Stops every worker cleanly (each closes its sockets and gives the lease up); kills stragglers. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.restartTimer);
    await Promise.all(
      this.slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker || worker.isDead()) return;
        const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
        if (worker.isConnected()) worker.send(STOP);
        else worker.process.kill('SIGTERM');
        const killer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(killer);
      }),
    );
  }
}

/** A port nobody listens on right now (the workers take it a moment later). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', exclusive: true }, () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
