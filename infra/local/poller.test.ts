import type { SQSEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { recordsToDelete } from './poller.ts';

const event = {
  Records: ['m1', 'm2', 'm3'].map((id) => ({ messageId: id, receiptHandle: `rh-${id}` })),
} as SQSEvent;

describe('recordsToDelete (Lambda ReportBatchItemFailures rules)', () => {
  it.each([
    { what: 'no response', response: undefined, deleted: ['m1', 'm2', 'm3'] },
    { what: 'null', response: null, deleted: ['m1', 'm2', 'm3'] },
    { what: 'an empty failure list', response: { batchItemFailures: [] }, deleted: ['m1', 'm2', 'm3'] },
    { what: 'a response without the list', response: { statusCode: 200 }, deleted: ['m1', 'm2', 'm3'] },
    {
      what: 'two failures',
      response: { batchItemFailures: [{ itemIdentifier: 'm1' }, { itemIdentifier: 'm3' }] },
      deleted: ['m2'],
    },
    {
      what: 'every record failed',
      response: { batchItemFailures: ['m1', 'm2', 'm3'].map((itemIdentifier) => ({ itemIdentifier })) },
      deleted: [],
    },
    {
      what: 'an unknown id',
      response: { batchItemFailures: [{ itemIdentifier: 'other' }] },
      deleted: 'invalid',
    },
    { what: 'an empty id', response: { batchItemFailures: [{ itemIdentifier: '' }] }, deleted: 'invalid' },
    { what: 'a missing id', response: { batchItemFailures: [{}] }, deleted: 'invalid' },
    { what: 'a null entry', response: { batchItemFailures: [null] }, deleted: 'invalid' },
  ])('$what -> $deleted', ({ response, deleted }) => {
    const out = recordsToDelete(event, response);
    expect(out === 'invalid' ? out : out.map((m) => m.MessageId)).toEqual(deleted);
    if (out !== 'invalid') for (const m of out) expect(m.ReceiptHandle).toBe(`rh-${m.MessageId}`);
  });
});
