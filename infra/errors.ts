import { SwitchyardError } from '../shared/errors/errors.ts';

/**
 * A deployment setting that would make a broken stack (a queue whose visibility timeout lets the
 * splitter's in-flight messages reappear, a queue the topology lists twice). Thrown at synth, so
 * nothing is deployed; `infra/app.ts` prints the message without a stack trace.
 */
export class DeploymentConfigError extends SwitchyardError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('invalid_deployment', message, 400, details);
  }
}
