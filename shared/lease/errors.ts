import { SwitchyardError } from '../errors/errors.ts';

/**
 * The lease's failure modes, each one a caller can branch on. All are expected events in a
 * fleet of replicas; none means data was lost.
 */

/** Someone else holds the lease now (a renew or release found another owner or token). */
export class LeaseLostError extends SwitchyardError {
  constructor(name: string, token: number, message?: string) {
    super('lease_lost', message ?? `lease '${name}' (token ${token}) is held by someone else now`, 409, {
      lease: name,
      token,
    });
  }
}

/**
 * Our own clock says the holding is over (or too close to over to write safely). Nothing was sent:
 * the caller must acquire again, which gives a new token.
 */
export class LeaseExpiredError extends SwitchyardError {
  constructor(name: string, token: number, until: number, now: number) {
    super(
      'lease_expired',
      `lease '${name}' (token ${token}) may not be used any more: valid until ${until}, now ${now}`,
      409,
      { lease: name, token, until, now },
    );
  }
}

/**
 * A fenced write was rejected because a newer lease holder already wrote the item: we were deposed
 * while the write was on its way. Stop all work done under this lease.
 */
export class StaleFenceError extends SwitchyardError {
  constructor(key: { pk: string; sk: string }, token: number, fence: number) {
    super(
      'stale_fence',
      `write to ${key.pk}/${key.sk} under token ${token} rejected: a newer holder (token ${fence}) wrote it`,
      409,
      { key, token, fence },
    );
  }
}
