import { queueOwner } from '../../shared/split/topology-queues.ts';
import { ENV } from './env.ts';
import { queueArnsFromEnv } from './queue-arns.ts';

/**
 * The URL of a queue by name, in the form SQS itself returns: on AWS
 * https://sqs.<region>.amazonaws.com/<account>/<name>, the account being the one context
 * `queueArns` names for that queue (SWITCHYARD_QUEUE_ARNS), else the stack's (SWITCHYARD_ACCOUNT);
 * on the embedded SQS http://sqs.<region>.localhost:<port>/000000000000/<name>.
 */
export function queueUrl(region: string, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const local = env[ENV.sqsEndpoint];
  if (local) return `http://sqs.${region}.localhost:${new URL(local).port}/000000000000/${name}`;
  const account = queueOwner(queueArnsFromEnv(env), region, name) ?? env[ENV.account] ?? '000000000000';
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}
