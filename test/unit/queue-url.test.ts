import { describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { queueUrl } from '../../functions/lib/queue-url.ts';

describe('queueUrl (the URLs GET /v1/clusters shows)', () => {
  it('on the embedded SQS: its host form and account, whatever the deployment variables say', () => {
    const env = { [ENV.sqsEndpoint]: 'http://127.0.0.1:4566', [ENV.account]: '111122223333' };
    expect(queueUrl('us-west-2', 'west-orders', env)).toBe(
      'http://sqs.us-west-2.localhost:4566/000000000000/west-orders',
    );
  });

  it("on AWS: the stack's account for a queue named without an ARN", () => {
    expect(queueUrl('us-east-1', 'east-orders', { [ENV.account]: '111122223333' })).toBe(
      'https://sqs.us-east-1.amazonaws.com/111122223333/east-orders',
    );
  });

  it('on AWS: the account context queueArns names for that queue', () => {
    const env = {
      [ENV.account]: '111122223333',
      [ENV.queueArns]: JSON.stringify({ 'east-orders': 'arn:aws:sqs:us-east-1:444455556666:east-orders' }),
    };
    expect(queueUrl('us-east-1', 'east-orders', env)).toBe(
      'https://sqs.us-east-1.amazonaws.com/444455556666/east-orders',
    );
    // Another queue, or the same name in another region, stays in the stack's account.
    expect(queueUrl('us-east-1', 'east-orders-fallback', env)).toBe(
      'https://sqs.us-east-1.amazonaws.com/111122223333/east-orders-fallback',
    );
    expect(queueUrl('eu-west-1', 'east-orders', env)).toBe(
      'https://sqs.eu-west-1.amazonaws.com/111122223333/east-orders',
    );
  });
});
