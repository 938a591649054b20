import { describe, expect, it } from 'vitest';
import {
  ATTR_CLUSTER,
  ATTR_MESSAGE_ID,
  chunk,
  prepare,
  type SourceRecord,
  SQS_LIMITS,
  toEntry,
} from '../../shared/split/message.ts';
import { fromReceived } from '../../shared/split/received.ts';

function record(over: Partial<SourceRecord> = {}): SourceRecord {
  return {
    messageId: 'm-1',
    body: 'hello',
    attributes: {},
    messageAttributes: {},
    eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:orders',
    ...over,
  };
}

const attrs = (n: number) =>
  Object.fromEntries(
    Array.from({ length: n }, (_, i) => [`a${i}`, { dataType: 'String', stringValue: `v${i}` }]),
  );

describe('prepare', () => {
  it('keeps body and every attribute type, and adds the message id and cluster', () => {
    // Prepare
    const r = record({
      messageAttributes: {
        s: { dataType: 'String', stringValue: 'x' },
        n: { dataType: 'Number.int', stringValue: '42' },
        b: { dataType: 'Binary.gz', binaryValue: Buffer.from([0, 1, 255]).toString('base64') },
      },
    });
    // Act
    const out = prepare(r, 3, 'east');
    // Assess
    expect(out.index).toBe(3);
    expect(out.body).toBe('hello');
    expect(out.attributes.s).toEqual({ DataType: 'String', StringValue: 'x' });
    expect(out.attributes.n).toEqual({ DataType: 'Number.int', StringValue: '42' });
    expect(out.attributes.b?.DataType).toBe('Binary.gz');
    expect([...out.attributes.b!.BinaryValue!]).toEqual([0, 1, 255]);
    expect(out.attributes[ATTR_MESSAGE_ID]?.StringValue).toBe('m-1');
    expect(out.attributes[ATTR_CLUSTER]?.StringValue).toBe('east');
  });

  it.each<[number, string[]]>([
    [8, [ATTR_MESSAGE_ID, ATTR_CLUSTER]],
    [9, [ATTR_MESSAGE_ID]],
    [10, []],
  ])('with %i attributes already present adds %j (SQS allows 10)', (present, added) => {
    // Act
    const out = prepare(record({ messageAttributes: attrs(present) }), 0, 'east');
    // Assess
    expect(Object.keys(out.attributes)).toHaveLength(present + added.length);
    for (const name of [ATTR_MESSAGE_ID, ATTR_CLUSTER]) {
      expect(name in out.attributes).toBe(added.includes(name));
    }
  });

  it('keeps the first hop id when the message already carries one', () => {
    const out = prepare(
      record({ messageAttributes: { [ATTR_MESSAGE_ID]: { dataType: 'String', stringValue: 'original' } } }),
      0,
      'west',
    );
    expect(out.attributes[ATTR_MESSAGE_ID]?.StringValue).toBe('original');
  });

  it('adds nothing that would push the message over 256 KiB', () => {
    const out = prepare(record({ body: 'x'.repeat(SQS_LIMITS.batchBytes - 10) }), 0, 'east');
    expect(Object.keys(out.attributes)).toEqual([]);
    expect(out.size).toBe(SQS_LIMITS.batchBytes - 10);
  });

  it('counts body, names, types and values (binary as bytes) toward the size', () => {
    const out = prepare(
      record({
        body: 'ab',
        messageAttributes: { k: { dataType: 'Binary', binaryValue: Buffer.alloc(100).toString('base64') } },
      }),
      0,
      'c',
    );
    const added = ATTR_MESSAGE_ID.length + 6 + 3 + (ATTR_CLUSTER.length + 6 + 1);
    expect(out.size).toBe(2 + 1 + 6 + 100 + added);
  });
});

describe('toEntry', () => {
  const out = prepare(
    record({ attributes: { MessageGroupId: 'g1', AWSTraceHeader: 'Root=1-x' } }),
    0,
    'east',
  );

  it('FIFO entries carry the group and the original id as deduplication id', () => {
    const e = toEntry(out, 'id0', true);
    expect(e.MessageGroupId).toBe('g1');
    expect(e.MessageDeduplicationId).toBe('m-1');
    expect(e.MessageSystemAttributes?.AWSTraceHeader?.StringValue).toBe('Root=1-x');
  });

  it('standard entries carry neither (SQS rejects them there)', () => {
    const e = toEntry(out, 'id0', false);
    expect(e.MessageGroupId).toBeUndefined();
    expect(e.MessageDeduplicationId).toBeUndefined();
    expect(e.Id).toBe('id0');
  });
});

describe('chunk', () => {
  const items = (sizes: number[]) => sizes.map((size, i) => ({ i, size }));

  it.each<[string, number[], number[]]>([
    ['25 small messages: 10 per call', Array(25).fill(100), [10, 10, 5]],
    ['the byte limit closes a batch early', [100_000, 100_000, 100_000, 10], [2, 2]],
    ['exactly 256 KiB fits in one call', [131_072, 131_072], [2]],
    ['an oversized message goes alone', [10, 300_000, 10], [1, 1, 1]],
    ['nothing to send', [], []],
  ])('%s', (_, sizes, expected) => {
    // Act
    const batches = chunk(items(sizes));
    // Assess
    expect(batches.map((b) => b.length)).toEqual(expected);
    expect(batches.flat().map((x) => x.i)).toEqual(sizes.map((_, i) => i));
    for (const b of batches) {
      expect(b.length).toBeLessThanOrEqual(SQS_LIMITS.entriesPerBatch);
      if (b.length > 1) expect(b.reduce((n, x) => n + x.size, 0)).toBeLessThanOrEqual(SQS_LIMITS.batchBytes);
    }
  });
});

describe('fromReceived', () => {
  it('turns an SDK message back into a record, keeping the original id for deduplication', () => {
    const r = fromReceived(
      {
        MessageId: 'output-id',
        Body: 'b',
        Attributes: { MessageGroupId: 'g' },
        MessageAttributes: {
          [ATTR_MESSAGE_ID]: { DataType: 'String', StringValue: 'source-id' },
          bin: { DataType: 'Binary', BinaryValue: new Uint8Array([9, 8]) },
        },
      },
      'arn',
    );
    expect(r.messageId).toBe('source-id');
    expect(r.attributes.MessageGroupId).toBe('g');
    expect(Buffer.from(r.messageAttributes.bin!.binaryValue!, 'base64')).toEqual(Buffer.from([9, 8]));
  });
});
