import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

/**
 * The second argument Lambda passes to a handler. Locally nothing is cut off at the deadline;
 * `getRemainingTimeInMillis` still counts down so code that budgets its time behaves as on AWS.
 */
export function lambdaContext(functionName: string, region: string, timeoutMs: number): Context {
  const deadline = Date.now() + timeoutMs;
  const name = `switchyard-local-${functionName}`;
  const unsupported = (): never => {
    throw new Error('the callback-style context methods are not supported: return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:000000000000:function:${name}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}
