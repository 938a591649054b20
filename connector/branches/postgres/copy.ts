import type { Duplex } from 'node:stream';
import type { Client, Submittable } from 'pg';

/**
 * Streams one table from the source to the branch with `COPY ... TO STDOUT` piped into
 * `COPY ... FROM STDIN`. The text format round-trips every type exactly (it is what pg_dump
 * uses) and the rows never become JavaScript values.
 *
 * `pg` carries COPY only through its Submittable extension point (the one pg-cursor and
 * pg-copy-streams build on); pg-copy-streams is not a dependency, so these two small
 * submittables do the same with the wire calls `pg` already has.
 */

/** The parts of pg's Connection (not in @types/pg) that the COPY sub-protocol needs. */
interface Wire {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: Duplex;
}

function rowCount(commandTag: string | undefined): number {
  const m = /^COPY (\d+)/.exec(commandTag ?? '');
  return m ? Number(m[1]) : 0;
}

/** Settles once: the client calls either handleError or handleReadyForQuery (after an error it clears the query first). */
abstract class CopyQuery implements Submittable {
  readonly done: Promise<number>;
  protected rows = 0;
  private settle!: { resolve: (n: number) => void; reject: (e: Error) => void };
  private settled = false;

  constructor(protected readonly text: string) {
    this.done = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // The caller awaits `done` later; do not let a rejection before that count as unhandled.
    this.done.catch(() => {});
  }

  abstract submit(connection: unknown): void;

  handleCommandComplete(msg: { text?: string }): void {
    this.rows = rowCount(msg.text);
  }
  handleReadyForQuery(): void {
    this.finish();
  }
  handleError(err: Error): void {
    this.finish(err);
  }
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(_msg: { chunk: Buffer }, _connection: unknown): void {}
  handleCopyInResponse(connection: unknown): void {
    (connection as Wire).sendCopyFail('this query does not send data');
  }

  protected finish(err?: Error): void {
    if (this.settled) return;
    this.settled = true;
    if (err) this.settle.reject(err);
    else this.settle.resolve(this.rows);
  }
}

class CopyOut extends CopyQuery {
  constructor(
    text: string,
    private readonly onChunk: (chunk: Buffer) => void,
  ) {
    super(text);
  }
  submit(connection: unknown): void {
    (connection as Wire).query(this.text);
  }
  override handleCopyData(msg: { chunk: Buffer }): void {
    // The chunk is a view into pg's read buffer: it must be used (sent on) before returning.
    this.onChunk(msg.chunk);
  }
}

class CopyIn extends CopyQuery {
  /** Resolves when the server is ready for data (or the COPY failed before that). */
  readonly ready: Promise<Wire | undefined>;
  private onReady!: (wire: Wire | undefined) => void;
  failed: Error | undefined;

  constructor(text: string) {
    super(text);
    this.ready = new Promise((resolve) => {
      this.onReady = resolve;
    });
  }
  submit(connection: unknown): void {
    (connection as Wire).query(this.text);
  }
  override handleCopyInResponse(connection: unknown): void {
    this.onReady(connection as Wire);
  }
  override handleError(err: Error): void {
    this.failed = err;
    this.onReady(undefined);
    super.handleError(err);
  }
}

/** Postgres sends one CopyData message per row; they are regrouped into writes of this size. */
const BATCH_BYTES = 64 * 1024;

/** Copies one table; resolves with the number of rows the branch received. */
export async function pipeCopy(
  source: Client,
  branch: Client,
  outSql: string,
  inSql: string,
): Promise<number> {
  const sink = new CopyIn(inSql);
  branch.query(sink);
  const wire = await sink.ready;
  if (!wire) return sink.done; // rejects with the server's reason

  const sourceStream = (source as unknown as { connection: Wire }).connection.stream;
  let waiting = false;
  const resume = () => {
    waiting = false;
    sourceStream.resume();
  };
  const send = (data: Buffer) => {
    wire.sendCopyFromChunk(data);
    // Backpressure: while the branch's socket is full, stop reading the source's.
    if (wire.stream.writableNeedDrain && !waiting) {
      waiting = true;
      sourceStream.pause();
      wire.stream.once('drain', resume);
    }
  };
  // Rows are gathered into one buffer: a write per row would cost a syscall and a message each.
  // Each chunk is a view into pg's read buffer, valid only now, so it is copied in right away.
  let staged = Buffer.allocUnsafe(BATCH_BYTES);
  let used = 0;
  const flush = () => {
    if (used === 0) return;
    send(staged.subarray(0, used));
    staged = Buffer.allocUnsafe(BATCH_BYTES);
    used = 0;
  };
  const pump = new CopyOut(outSql, (chunk) => {
    if (sink.failed) return; // the server drops data after an error; stop sending
    if (used + chunk.length > BATCH_BYTES) flush();
    if (chunk.length > BATCH_BYTES) send(chunk);
    else {
      chunk.copy(staged, used);
      used += chunk.length;
    }
  });
  // A failed sink never drains: let the source finish (its rows are discarded) instead of hanging.
  sink.done.catch(() => {
    wire.stream.off('drain', resume);
    if (waiting) resume();
  });
  source.query(pump);
  try {
    await pump.done;
  } catch (err) {
    if (!sink.failed) wire.sendCopyFail('the source stopped sending');
    await sink.done.catch(() => {});
    throw err;
  }
  if (!sink.failed) {
    flush();
    wire.endCopyFrom();
  }
  return sink.done;
}
