import type { Message } from '@aws-sdk/client-sqs';
import { ATTR_MESSAGE_ID, type SourceRecord } from './message.ts';

/**
 * A message received with the SDK, in the shape the splitter forwards (the Lambda record's field
 * names). Its id is the original source message id when it carries one, so moving it on keeps the
 * same FIFO deduplication id.
 */
export function fromReceived(m: Message, eventSourceARN: string): SourceRecord {
  const messageAttributes: SourceRecord['messageAttributes'] = {};
  for (const [name, a] of Object.entries(m.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: a.DataType ?? 'String',
      ...(a.StringValue !== undefined ? { stringValue: a.StringValue } : {}),
      ...(a.BinaryValue !== undefined ? { binaryValue: Buffer.from(a.BinaryValue).toString('base64') } : {}),
    };
  }
  return {
    messageId: m.MessageAttributes?.[ATTR_MESSAGE_ID]?.StringValue ?? m.MessageId ?? '',
    body: m.Body ?? '',
    attributes: {
      MessageGroupId: m.Attributes?.MessageGroupId,
      AWSTraceHeader: m.Attributes?.AWSTraceHeader,
    },
    messageAttributes,
    eventSourceARN,
  };
}
