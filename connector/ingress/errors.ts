import { SwitchyardError } from '../../shared/errors/errors.ts';

/** The upstream refused, reset or could not be resolved before it answered: 502. */
export class UpstreamUnreachableError extends SwitchyardError {
  constructor(service: string, cause: string) {
    super(
      'upstream_unreachable',
      `the upstream of service '${service}' could not be reached (${cause})`,
      502,
      {
        service,
        cause,
      },
    );
  }
}

/** The upstream took longer than `upstreamTimeoutMs` to start its answer: 504. */
export class UpstreamTimeoutError extends SwitchyardError {
  constructor(service: string, ms: number) {
    super('upstream_timeout', `the upstream of service '${service}' did not answer within ${ms} ms`, 504, {
      service,
      ms,
    });
  }
}

/** The short body a client gets instead of the upstream's answer: it names the connector. */
export function gatewayErrorBody(err: SwitchyardError): string {
  return `switchyard connector: ${err.message}\n`;
}
