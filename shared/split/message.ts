import type { MessageAttributeValue, SendMessageBatchRequestEntry } from '@aws-sdk/client-sqs';
import type { AttributesView } from './filter.ts';

/**
 * A message as the splitter receives it: the fields of a Lambda SQS event record it uses (so the
 * core needs no Lambda types, and the local runtime's poller can build the same shape).
 */
export interface SourceAttribute {
  dataType: string;
  stringValue?: string | undefined;
  /** Base64, as Lambda delivers binary attributes. */
  binaryValue?: string | undefined;
}
export interface SourceRecord {
  messageId: string;
  body: string;
  attributes: { MessageGroupId?: string | undefined; AWSTraceHeader?: string | undefined };
  messageAttributes: Record<string, SourceAttribute>;
  eventSourceARN: string;
}

/** SQS limits the splitter must respect. */
export const SQS_LIMITS = {
  attributesPerMessage: 10,
  entriesPerBatch: 10,
  /** Per SendMessageBatch call (and the classic per-message limit). */
  batchBytes: 256 * 1024,
} as const;

/** Attributes the splitter adds, when there is room (see `prepare`). */
export const ATTR_MESSAGE_ID = 'switchyard.messageId';
export const ATTR_CLUSTER = 'switchyard.cluster';

/** A source message ready to send anywhere: converted once, sent to one or more queues. */
export interface Outgoing {
  /** Position in the Lambda batch. */
  index: number;
  messageId: string;
  body: string;
  attributes: Record<string, MessageAttributeValue>;
  groupId?: string | undefined;
  traceHeader?: string | undefined;
  /** Bytes SQS counts toward the batch limit: body, attribute names, types and values. */
  size: number;
}

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');

function attributeSize(name: string, a: MessageAttributeValue): number {
  return (
    utf8(name) +
    utf8(a.DataType ?? '') +
    (a.StringValue !== undefined ? utf8(a.StringValue) : 0) +
    (a.BinaryValue?.byteLength ?? 0)
  );
}

/** The Lambda shape back to the SDK shape, keeping custom types (`Number.int`, `Binary.gzip`). */
function toSdkAttribute(a: SourceAttribute): MessageAttributeValue {
  const out: MessageAttributeValue = { DataType: a.dataType };
  if (a.stringValue !== undefined) out.StringValue = a.stringValue;
  if (a.binaryValue !== undefined) out.BinaryValue = Buffer.from(a.binaryValue, 'base64');
  return out;
}

/**
 * Converts a record for forwarding. Body, every attribute and the FIFO group are kept. The original
 * message id and the cluster travel as `switchyard.messageId` and `switchyard.cluster` when the
 * message has room: SQS allows 10 attributes and 256 KiB, so a message that already uses them
 * travels unchanged (the message id then only serves as the FIFO deduplication id).
 */
export function prepare(record: SourceRecord, index: number, clusterId: string): Outgoing {
  const attributes: Record<string, MessageAttributeValue> = {};
  let size = utf8(record.body);
  for (const [name, a] of Object.entries(record.messageAttributes ?? {})) {
    const sdk = toSdkAttribute(a);
    attributes[name] = sdk;
    size += attributeSize(name, sdk);
  }
  const extra: [string, string][] = [
    [ATTR_MESSAGE_ID, record.messageId],
    [ATTR_CLUSTER, clusterId],
  ];
  for (const [name, value] of extra) {
    if (name in attributes) continue; // already forwarded once: keep the first hop's value
    const a: MessageAttributeValue = { DataType: 'String', StringValue: value };
    const grown = size + attributeSize(name, a);
    if (Object.keys(attributes).length >= SQS_LIMITS.attributesPerMessage || grown > SQS_LIMITS.batchBytes) {
      break;
    }
    attributes[name] = a;
    size = grown;
  }
  return {
    index,
    messageId: record.messageId,
    body: record.body,
    attributes,
    groupId: record.attributes?.MessageGroupId,
    traceHeader: record.attributes?.AWSTraceHeader,
    size,
  };
}

/** The view filters match against. */
export const attributesView = (record: SourceRecord): AttributesView => record.messageAttributes ?? {};

export function toEntry(o: Outgoing, id: string, fifo: boolean): SendMessageBatchRequestEntry {
  return {
    Id: id,
    MessageBody: o.body,
    ...(Object.keys(o.attributes).length ? { MessageAttributes: o.attributes } : {}),
    ...(o.traceHeader
      ? { MessageSystemAttributes: { AWSTraceHeader: { DataType: 'String', StringValue: o.traceHeader } } }
      : {}),
    // The original id deduplicates a redelivered source message within SQS's 5-minute window.
    ...(fifo ? { MessageGroupId: o.groupId, MessageDeduplicationId: o.messageId } : {}),
  };
}

/**
 * Splits messages, in order, into SendMessageBatch calls of at most 10 entries and 256 KiB. A single
 * message above 256 KiB (SQS accepts up to 1 MiB) goes alone, and SQS decides.
 */
export function chunk<T extends { size: number }>(items: T[]): T[][] {
  const out: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    if (
      current.length > 0 &&
      (current.length >= SQS_LIMITS.entriesPerBatch || bytes + item.size > SQS_LIMITS.batchBytes)
    ) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += item.size;
  }
  if (current.length) out.push(current);
  return out;
}
