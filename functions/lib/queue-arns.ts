import { ENV } from './env.ts';

/**
 * The queues of other accounts (SWITCHYARD_QUEUE_ARNS, set by the stack from context `queueArns`):
 * queue ARN by name. Unset: every queue is in the function's own account.
 */
export function queueArnsFromEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const raw = env[ENV.queueArns];
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new Error(
      `environment variable ${ENV.queueArns} is not JSON (${(err as Error).message}): redeploy the stack, which sets it from context "queueArns"`,
    );
  }
  if (
    !parsed ||
    typeof parsed !== 'object' ||
    Array.isArray(parsed) ||
    Object.values(parsed).some((v) => typeof v !== 'string')
  ) {
    throw new Error(
      `environment variable ${ENV.queueArns} must be a JSON object of queue name to queue ARN: redeploy the stack, which sets it from context "queueArns"`,
    );
  }
  return parsed as Record<string, string>;
}
