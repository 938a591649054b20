import { ENV } from './env.ts';

/**
 * The URL of a queue by name. On AWS: https://sqs.<region>.amazonaws.com/<account>/<name>; the
 * account comes from SWITCHYARD_ACCOUNT. Locally the embedded SQS answers on its own endpoint.
 */
export function queueUrl(region: string, name: string, env: NodeJS.ProcessEnv = process.env): string {
  const local = env[ENV.sqsEndpoint];
  const account = env.SWITCHYARD_ACCOUNT ?? '000000000000';
  if (local) return `${local.replace(/\/$/, '')}/${account}/${name}`;
  return `https://sqs.${region}.amazonaws.com/${account}/${name}`;
}
