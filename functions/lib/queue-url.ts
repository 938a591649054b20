import { ENV } from './env.ts';

/**
 * The URL of a queue by name, in the form SQS itself returns: on AWS
 * https://sqs.<region>.amazonaws.com/<account>/<name> (account from SWITCHYARD_ACCOUNT); on
 * the embedded SQS http://sqs.<region>.localhost:<port>/000000000000/<name>.
 */
export function queueUrl(region: string, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const local = env[ENV.sqsEndpoint];
  const account = env.SWITCHYARD_ACCOUNT ?? '000000000000';
  if (local) return `http://sqs.${region}.localhost:${new URL(local).port}/${account}/${name}`;
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}
