import type { Message } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSMessageAttributes, SQSRecord, SQSRecordAttributes } from 'aws-lambda';
import type { LocalQueue } from './sqs.ts';

/**
 * Turns received SQS messages into the event Lambda's SQS event source gives a function:
 * camelCase record fields, system attributes as strings, message attributes with base64
 * binaries and the (always empty) list fields Lambda includes.
 */
export function sqsEvent(messages: Message[], queue: Pick<LocalQueue, 'arn' | 'region'>): SQSEvent {
  return { Records: messages.map((m) => sqsRecord(m, queue)) };
}

function sqsRecord(m: Message, queue: Pick<LocalQueue, 'arn' | 'region'>): SQSRecord {
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: recordAttributes(m.Attributes ?? {}),
    messageAttributes: messageAttributes(m.MessageAttributes ?? {}),
    md5OfBody: m.MD5OfBody!,
    ...(m.MD5OfMessageAttributes ? { md5OfMessageAttributes: m.MD5OfMessageAttributes } : {}),
    eventSource: 'aws:sqs',
    eventSourceARN: queue.arn,
    awsRegion: queue.region,
  };
}

const OPTIONAL_ATTRIBUTES = [
  'AWSTraceHeader',
  'SequenceNumber',
  'MessageGroupId',
  'MessageDeduplicationId',
  'DeadLetterQueueSourceArn',
] as const;

function recordAttributes(a: Record<string, string>): SQSRecordAttributes {
  const out: SQSRecordAttributes = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? '000000000000',
    ApproximateFirstReceiveTimestamp:
      a.ApproximateFirstReceiveTimestamp ?? a.SentTimestamp ?? String(Date.now()),
  };
  for (const name of OPTIONAL_ATTRIBUTES) {
    if (a[name] !== undefined) out[name] = a[name];
  }
  return out;
}

function messageAttributes(attrs: NonNullable<Message['MessageAttributes']>): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [name, v] of Object.entries(attrs)) {
    out[name] = {
      ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { binaryValue: Buffer.from(v.BinaryValue).toString('base64') } : {}),
      stringListValues: [],
      binaryListValues: [],
      dataType: v.DataType!,
    };
  }
  return out;
}
