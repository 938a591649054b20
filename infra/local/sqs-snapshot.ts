import { randomUUID } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import {
  ChangeMessageVisibilityBatchCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { SwitchyardError } from '../../shared/errors/errors.ts';
import { isQueueGone } from '../../shared/split/send.ts';
import type { LocalLog } from './log.ts';
import type { LocalSqs } from './sqs.ts';

/**
 * The embedded SQS (fauxqs) keeps its messages in memory. So that a developer's queues survive
 * a stop and a start of the local runtime on the same data directory, a clean stop saves every
 * message of every queue into `<dataDir>/sqs-messages.json`, and the next start sends them back.
 *
 * Saving empties the queues through the SQS API (ReceiveMessage, then DeleteMessageBatch), once
 * nothing of the runtime consumes any more. Two kinds of message cannot be received: those in
 * flight (received by a consumer that has not deleted them) and delayed ones. For those the save
 * looks into fauxqs: messages in flight are made visible again (ChangeMessageVisibility 0, which
 * puts a FIFO message back at the head of its group) and received with the rest, delayed ones
 * are copied with the time they become visible.
 *
 * Restoring sends every message back with SendMessageBatch (body and message attributes kept;
 * on FIFO queues the group id and the order within a group kept, and the deduplication id kept
 * unless it repeats within the queue). A queue that does not exist after start (not in the
 * topology any more, or the output queue of a split that is no longer active) is created again
 * with the attributes it had. The file is deleted once every message went back; what could not
 * be sent stays in it (it is rewritten with just that), is sent at the next start, and is kept
 * in front of what the next stop saves.
 */
export const SQS_SNAPSHOT_FILE = 'sqs-messages.json';
export const SQS_SNAPSHOT_VERSION = 1;

/** SendMessageBatch limits: 10 entries, and 1 MiB for the whole batch (bodies and attributes). */
const BATCH_ENTRIES = 10;
const BATCH_BYTES = 1_048_576;
/** Receive-release rounds per queue: more are needed only while an outside consumer keeps receiving. */
const RELEASE_ROUNDS = 5;
/** Long enough that a received message cannot come back while its delete is on its way. */
const RECEIVE_VISIBILITY_SECONDS = 600;
/** A long save or restore logs how far it got every this many messages. */
const PROGRESS_EVERY = 5_000;
/** The most SQS delays a message by. */
const MAX_DELAY_SECONDS = 900;
/** The queue attributes a queue is created again with (what CreateQueue accepts). */
const KEPT_ATTRIBUTES = [
  'VisibilityTimeout',
  'DelaySeconds',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'ReceiveMessageWaitTimeSeconds',
  'RedrivePolicy',
  'Policy',
  'KmsMasterKeyId',
  'KmsDataKeyReusePeriodSeconds',
  'FifoQueue',
  'ContentBasedDeduplication',
  'DeduplicationScope',
  'FifoThroughputLimit',
] as const;

const SavedMessageSchema = z.object({
  body: z.string(),
  /** As SQS carries them; a binary value in base64. */
  messageAttributes: z
    .record(
      z.string(),
      z.object({
        DataType: z.string().min(1),
        StringValue: z.string().optional(),
        BinaryValue: z.string().optional(),
      }),
    )
    .optional(),
  messageGroupId: z.string().min(1).optional(),
  messageDeduplicationId: z.string().min(1).optional(),
  /** A delayed message: when it becomes visible (epoch ms). */
  delayUntil: z.number().int().optional(),
});
export type SavedMessage = z.infer<typeof SavedMessageSchema>;

const SavedQueueSchema = z.object({
  name: z.string().min(1),
  region: z.string().min(1),
  /** The URL it had (for reading the file; the restore looks the queue up by name and region). */
  url: z.string(),
  attributes: z.record(z.string(), z.string()),
  /** In the order they were received: per group on a FIFO queue, the order of the group. */
  messages: z.array(SavedMessageSchema),
});
export type SavedQueue = z.infer<typeof SavedQueueSchema>;

const SnapshotSchema = z.object({
  version: z.literal(SQS_SNAPSHOT_VERSION),
  savedAt: z.string(),
  queues: z.array(SavedQueueSchema),
});
export type SqsSnapshot = z.infer<typeof SnapshotSchema>;

/** The saved messages cannot be read: the runtime refuses to start rather than lose or overwrite them. */
export class SqsSnapshotError extends SwitchyardError {
  constructor(file: string, problem: string) {
    super(
      'invalid_sqs_snapshot',
      `${file} ${problem}. It holds the messages the embedded SQS had when the local runtime last stopped; delete it to start with empty queues (those messages are then lost)`,
      500,
      { file },
    );
  }
}

/** What the snapshot needs of the embedded SQS. */
export type SnapshotSqs = Pick<LocalSqs, 'client' | 'held'>;

/** Reads the saved messages; undefined when there are none. Throws SqsSnapshotError for a file it cannot use. */
export function readSqsSnapshot(file: string): SqsSnapshot | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SqsSnapshotError(file, `cannot be read (${(err as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SqsSnapshotError(file, 'is not valid JSON');
  }
  const version = (raw as { version?: unknown } | null)?.version;
  if (version !== SQS_SNAPSHOT_VERSION) {
    throw new SqsSnapshotError(
      file,
      `has format version ${JSON.stringify(version)}, which this version of Switchyard cannot read (it reads version ${SQS_SNAPSHOT_VERSION}): start the version that wrote it to get its messages back`,
    );
  }
  const parsed = SnapshotSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SqsSnapshotError(
      file,
      `is not a valid saved-messages file (${issue.path.join('.')}: ${issue.message})`,
    );
  }
  return parsed.data;
}

/** Writes the file atomically (a temp file renamed over it), mode 0600: messages may hold secrets. */
export function writeSqsSnapshot(file: string, queues: SavedQueue[]): void {
  const snapshot: SqsSnapshot = { version: SQS_SNAPSHOT_VERSION, savedAt: new Date().toISOString(), queues };
  const temp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(temp, 'w', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(snapshot)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

const count = (n: number, one: string, many = `${one}s`): string =>
  `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;

/** Counts messages done, logging a line each time the count passes a multiple of PROGRESS_EVERY. */
type Tick = (n: number) => void;
function progress(log: LocalLog, what: string): Tick {
  let done = 0;
  return (n) => {
    const before = Math.floor(done / PROGRESS_EVERY);
    done += n;
    if (Math.floor(done / PROGRESS_EVERY) > before) log.info(`${what}: ${count(done, 'message')} so far…`);
  };
}

const keyOf = (q: Pick<SavedQueue, 'region' | 'name'>): string => `${q.region}/${q.name}`;

/** fauxqs queue URLs carry the region (`http://sqs.<region>.localhost:<port>/...`). */
function regionOfUrl(url: string, fallback: string): string {
  try {
    const m = /^sqs\.([a-z0-9-]+)\./.exec(new URL(url).hostname);
    return m?.[1] ?? fallback;
  } catch {
    return fallback;
  }
}

/** Every queue in the embedded SQS, by URL, with its region, asking in every region the runtime serves. */
async function listAllQueues(sqs: SnapshotSqs, regions: string[]): Promise<Map<string, string>> {
  const urls = new Map<string, string>();
  for (const region of regions) {
    let token: string | undefined;
    do {
      const out = await sqs
        .client(region)
        .send(new ListQueuesCommand({ MaxResults: 1000, NextToken: token }));
      for (const url of out.QueueUrls ?? []) if (!urls.has(url)) urls.set(url, regionOfUrl(url, region));
      token = out.NextToken;
    } while (token);
  }
  return urls;
}

function fromReceived(m: Message): SavedMessage {
  const attributes = Object.entries(m.MessageAttributes ?? {});
  return {
    body: m.Body ?? '',
    ...(attributes.length
      ? {
          messageAttributes: Object.fromEntries(
            attributes.map(([name, v]) => [
              name,
              {
                DataType: v.DataType ?? 'String',
                ...(v.StringValue === undefined ? {} : { StringValue: v.StringValue }),
                ...(v.BinaryValue === undefined
                  ? {}
                  : { BinaryValue: Buffer.from(v.BinaryValue).toString('base64') }),
              },
            ]),
          ),
        }
      : {}),
    ...(m.Attributes?.MessageGroupId ? { messageGroupId: m.Attributes.MessageGroupId } : {}),
    ...(m.Attributes?.MessageDeduplicationId
      ? { messageDeduplicationId: m.Attributes.MessageDeduplicationId }
      : {}),
  };
}

interface Drained {
  queue: SavedQueue;
  /** Messages left behind (see `why`). */
  lost: number;
  why?: string;
  error?: unknown;
}

/** Receives until the queue answers with nothing, deleting what it got; appends to `into`. */
async function receiveAll(client: SQSClient, url: string, into: SavedMessage[], tick: Tick): Promise<void> {
  for (;;) {
    const out = await client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        // A FIFO queue answers one message per group per call: the loop goes on until it is empty.
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: RECEIVE_VISIBILITY_SECONDS,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['MessageGroupId', 'MessageDeduplicationId'],
      }),
    );
    const got = out.Messages ?? [];
    if (got.length === 0) return;
    into.push(...got.map(fromReceived));
    tick(got.length);
    const deleted = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    const failed = deleted.Failed ?? [];
    // Saved already; but an undeleted FIFO message keeps its group locked, so stop here.
    if (failed.length) throw new Error(`DeleteMessageBatch failed: ${failed[0]!.Code} ${failed[0]!.Message}`);
  }
}

/** Makes messages in flight visible again, so the next receive gets them. */
async function release(client: SQSClient, url: string, handles: string[]): Promise<void> {
  for (let i = 0; i < handles.length; i += 10) {
    // Entries that fail were deleted or released by their consumer meanwhile: nothing to do.
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: handles
          .slice(i, i + 10)
          .map((h, j) => ({ Id: String(j), ReceiptHandle: h, VisibilityTimeout: 0 })),
      }),
    );
  }
}

async function drainQueue(sqs: SnapshotSqs, url: string, region: string, tick: Tick): Promise<Drained> {
  const client = sqs.client(region);
  const name = url.slice(url.lastIndexOf('/') + 1);
  const messages: SavedMessage[] = [];
  const queue: SavedQueue = { name, region, url, attributes: {}, messages };
  try {
    const out = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    const attributes: Record<string, string> = out.Attributes ?? {};
    for (const a of KEPT_ATTRIBUTES) if (attributes[a] !== undefined) queue.attributes[a] = attributes[a];
    for (let round = 1; ; round++) {
      await receiveAll(client, url, messages, tick);
      const held = sqs.held(url);
      if (!held) {
        // Cannot look into this queue (the embedded SQS inspects queues by name, and another region
        // has one of this name): what is in flight or delayed stays behind, and on a FIFO queue so
        // do the ready messages queued behind one in flight in the same group.
        const left = await client.send(
          new GetQueueAttributesCommand({
            QueueUrl: url,
            AttributeNames: [
              'ApproximateNumberOfMessages',
              'ApproximateNumberOfMessagesNotVisible',
              'ApproximateNumberOfMessagesDelayed',
            ],
          }),
        );
        const n = (a: string) => Number((left.Attributes as Record<string, string> | undefined)?.[a] ?? 0);
        return {
          queue,
          lost:
            n('ApproximateNumberOfMessages') +
            n('ApproximateNumberOfMessagesNotVisible') +
            n('ApproximateNumberOfMessagesDelayed'),
          why: 'in flight, delayed, or queued behind one in flight in a FIFO group, in a queue whose name another region uses too (give the queues of different regions different names to have them saved)',
        };
      }
      // Ready messages the receive left are those of FIFO groups locked by a message in flight.
      const done = held.inFlight.length === 0 && held.ready === 0;
      // Still held after every round: a consumer outside the runtime keeps receiving.
      const givingUp = !done && round >= RELEASE_ROUNDS;
      if (done || givingUp) {
        // Last, in the order sent: on a FIFO queue the delayed messages of a group are its newest.
        messages.push(
          ...held.delayed.map((m) => ({
            body: m.body,
            ...(Object.keys(m.messageAttributes).length ? { messageAttributes: m.messageAttributes } : {}),
            ...(m.messageGroupId ? { messageGroupId: m.messageGroupId } : {}),
            ...(m.messageDeduplicationId ? { messageDeduplicationId: m.messageDeduplicationId } : {}),
            delayUntil: m.delayUntil,
          })),
        );
        if (done) return { queue, lost: 0 };
        return {
          queue,
          lost: held.inFlight.length + held.ready,
          why: 'kept being received by a consumer while the runtime stopped (with the rest of their FIFO groups)',
        };
      }
      await release(client, url, held.inFlight);
    }
  } catch (err) {
    if (isQueueGone(err)) return { queue, lost: 0 };
    const held = sqs.held(url);
    return {
      queue,
      lost: held ? held.ready + held.inFlight.length + held.delayed.length : Number.NaN,
      error: err,
    };
  }
}

export interface SaveResult {
  messages: number;
  queues: number;
}

/**
 * Empties every queue of the embedded SQS into `file`, with `carried` (messages an earlier
 * restore could not send) in front of each queue's own. Call it once nothing of the runtime
 * receives any more, right before the embedded SQS stops. Logs what it did; never throws.
 */
export async function saveSqsSnapshot(opts: {
  sqs: SnapshotSqs;
  /** The regions the runtime serves. */
  regions: string[];
  file: string;
  carried?: SavedQueue[];
  log: LocalLog;
}): Promise<SaveResult> {
  const { sqs, file, log } = opts;
  const byKey = new Map<string, SavedQueue>();
  for (const q of opts.carried ?? [])
    if (q.messages.length) byKey.set(keyOf(q), { ...q, messages: [...q.messages] });
  try {
    const urls = await listAllQueues(sqs, opts.regions);
    const tick = progress(log, 'saving the SQS messages');
    for (const [url, region] of urls) {
      const { queue, lost, why, error } = await drainQueue(sqs, url, region, tick);
      if (error !== undefined) {
        log.error(
          `saving the messages of SQS queue ${queue.name} (${region}) failed after ${count(queue.messages.length, 'message')}; ${Number.isNaN(lost) ? 'the others' : count(lost, 'message')} in it will be lost`,
          error,
        );
      } else if (lost > 0) {
        log.warn(
          `SQS queue ${queue.name} (${region}): ${count(lost, 'message')} ${why}: not saved, they will be lost`,
        );
      }
      if (queue.messages.length === 0) continue;
      const earlier = byKey.get(keyOf(queue));
      byKey.set(
        keyOf(queue),
        earlier ? { ...queue, messages: [...earlier.messages, ...queue.messages] } : queue,
      );
    }
  } catch (err) {
    log.error('listing the queues of the embedded SQS failed; their messages are not saved', err);
  }
  const queues = [...byKey.values()];
  const messages = queues.reduce((n, q) => n + q.messages.length, 0);
  try {
    if (messages === 0) {
      rmSync(file, { force: true });
      return { messages: 0, queues: 0 };
    }
    writeSqsSnapshot(file, queues);
  } catch (err) {
    log.error(`could not write ${file}: the ${count(messages, 'message')} of the embedded SQS are lost`, err);
    return { messages: 0, queues: 0 };
  }
  log.info(
    `saved ${count(messages, 'message')} of ${count(queues.length, 'SQS queue')} to ${file}; the next start sends them back`,
  );
  return { messages, queues: queues.length };
}

function attributeBytes(attributes: SavedMessage['messageAttributes']): number {
  let n = 0;
  for (const [name, v] of Object.entries(attributes ?? {})) {
    n += Buffer.byteLength(name) + Buffer.byteLength(v.DataType);
    if (v.StringValue !== undefined) n += Buffer.byteLength(v.StringValue);
    if (v.BinaryValue !== undefined) n += Buffer.byteLength(v.BinaryValue);
  }
  return n;
}

const sizeOf = (m: SavedMessage): number => Buffer.byteLength(m.body) + attributeBytes(m.messageAttributes);

function toSend(m: SavedMessage): Record<string, MessageAttributeValue> | undefined {
  if (!m.messageAttributes) return undefined;
  return Object.fromEntries(
    Object.entries(m.messageAttributes).map(([name, v]) => [
      name,
      {
        DataType: v.DataType,
        ...(v.StringValue === undefined ? {} : { StringValue: v.StringValue }),
        ...(v.BinaryValue === undefined ? {} : { BinaryValue: Buffer.from(v.BinaryValue, 'base64') }),
      },
    ]),
  );
}

/** The queue's URL now, creating it again (with the attributes it had) when it does not exist. */
async function queueUrlFor(client: SQSClient, q: SavedQueue, log: LocalLog): Promise<string> {
  try {
    const out = await client.send(new GetQueueUrlCommand({ QueueName: q.name }));
    if (out.QueueUrl) return out.QueueUrl;
  } catch (err) {
    if (!isQueueGone(err)) throw err;
  }
  const out = await client.send(new CreateQueueCommand({ QueueName: q.name, Attributes: q.attributes }));
  if (!out.QueueUrl) throw new Error(`CreateQueue ${q.name} returned no QueueUrl`);
  log.info(
    `created SQS queue ${q.name} (${q.region}) again for its ${count(q.messages.length, 'saved message')} (it is not one the runtime creates at start)`,
  );
  return out.QueueUrl;
}

/** Sends a queue's saved messages back; returns those it could not send, in their order. */
async function sendBack(
  client: SQSClient,
  url: string,
  q: SavedQueue,
  now: number,
  tick: Tick,
): Promise<{ left: SavedMessage[]; error?: unknown }> {
  const fifo = q.attributes.FifoQueue === 'true' || q.name.endsWith('.fifo');
  const msgs = q.messages;
  const left: SavedMessage[] = [];
  // FIFO: after a message of a group could not be sent, its later messages wait too (order).
  const blocked = new Set<string>();
  const dedupIds = new Set<string>();
  const entry = (m: SavedMessage, id: number): SendMessageBatchRequestEntry => {
    const base: SendMessageBatchRequestEntry = { Id: String(id), MessageBody: m.body };
    const attributes = toSend(m);
    if (attributes) base.MessageAttributes = attributes;
    if (fifo) {
      base.MessageGroupId = m.messageGroupId ?? 'default';
      // The original id (the restored queue's deduplication window starts empty); a fresh one
      // where it repeats within the queue (two messages sent more than SQS's 5-minute window
      // apart), or the second would be dropped as a duplicate here.
      let dedup = m.messageDeduplicationId;
      if (!dedup || dedupIds.has(dedup)) dedup = randomUUID();
      dedupIds.add(dedup);
      base.MessageDeduplicationId = dedup;
    } else if (m.delayUntil !== undefined) {
      const seconds = Math.ceil((m.delayUntil - now) / 1000);
      if (seconds > 0) base.DelaySeconds = Math.min(MAX_DELAY_SECONDS, seconds);
    }
    return base;
  };
  let error: unknown;
  let i = 0;
  while (i < msgs.length) {
    const chunk: SavedMessage[] = [];
    let bytes = 0;
    while (i < msgs.length && chunk.length < BATCH_ENTRIES) {
      const m = msgs[i]!;
      if (m.messageGroupId !== undefined && blocked.has(m.messageGroupId)) {
        left.push(m);
        i++;
        continue;
      }
      const size = sizeOf(m);
      if (chunk.length > 0 && bytes + size > BATCH_BYTES) break;
      chunk.push(m);
      bytes += size;
      i++;
    }
    if (chunk.length === 0) continue;
    let failed: { Id?: string | undefined; Code?: string | undefined; Message?: string | undefined }[];
    try {
      const out = await client.send(
        new SendMessageBatchCommand({ QueueUrl: url, Entries: chunk.map((m, j) => entry(m, j)) }),
      );
      failed = out.Failed ?? [];
    } catch (err) {
      // Nothing of this batch was taken: it and the rest stay saved.
      left.push(...chunk, ...msgs.slice(i));
      return { left: mergeInOrder(msgs, left), error: err };
    }
    // A message this queue took before is not refused for its content; should it happen, the
    // later messages of its group in this batch went ahead of it, and its group stops here.
    for (const f of failed) {
      const m = chunk[Number(f.Id)];
      if (!m) continue;
      left.push(m);
      if (m.messageGroupId !== undefined) blocked.add(m.messageGroupId);
    }
    if (failed.length) error ??= new Error(failedText(failed));
    tick(chunk.length - failed.length);
  }
  return { left: mergeInOrder(msgs, left), error };
}

const failedText = (failed: { Code?: string | undefined; Message?: string | undefined }[]): string =>
  `SendMessageBatch refused ${count(failed.length, 'message')} (${failed[0]?.Code}: ${failed[0]?.Message})`;

/** `subset` in the order of `all` (by identity). */
function mergeInOrder(all: SavedMessage[], subset: SavedMessage[]): SavedMessage[] {
  const keep = new Set(subset);
  return all.filter((m) => keep.has(m));
}

export interface RestoreResult {
  messages: number;
  queues: number;
  /** What could not be sent back: it stays in the file, and the next save puts it first. */
  left: SavedQueue[];
}

/**
 * Sends the saved messages back into their queues (call it after the queues are created again,
 * before anything receives). Deletes the file when every message went back; otherwise rewrites
 * it with what is left and logs which queue failed. Throws only when it cannot rewrite the file.
 */
export async function restoreSqsSnapshot(opts: {
  sqs: SnapshotSqs;
  snapshot: SqsSnapshot;
  file: string;
  log: LocalLog;
  now?: () => number;
}): Promise<RestoreResult> {
  const { sqs, snapshot, file, log } = opts;
  const now = opts.now ?? Date.now;
  const left: SavedQueue[] = [];
  let messages = 0;
  const tick = progress(log, 'restoring the SQS messages');
  let queues = 0;
  for (const q of snapshot.queues) {
    if (q.messages.length === 0) continue;
    const client = sqs.client(q.region);
    let result: { left: SavedMessage[]; error?: unknown };
    try {
      const url = await queueUrlFor(client, q, log);
      result = await sendBack(client, url, q, now(), tick);
    } catch (err) {
      result = { left: q.messages, error: err };
    }
    const sent = q.messages.length - result.left.length;
    messages += sent;
    if (sent > 0) queues++;
    if (result.left.length) {
      left.push({ ...q, messages: result.left });
      log.error(
        `could not restore ${count(result.left.length, 'message')} into SQS queue ${q.name} (${q.region}); they stay in ${file} and are sent at the next start`,
        result.error,
      );
    }
  }
  if (left.length) writeSqsSnapshot(file, left);
  else rmSync(file, { force: true });
  if (messages > 0) {
    log.info(
      `restored ${count(messages, 'message')} into ${count(queues, 'SQS queue')} (saved at the last stop)`,
    );
  }
  return { messages, queues, left };
}
