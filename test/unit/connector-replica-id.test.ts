import { describe, expect, it } from 'vitest';
import { randomReplicaId, resolveReplicaId, sanitizeReplicaId } from '../../connector/replica-id.ts';
import { isReplicaId } from '../../shared/clusters/replica.ts';

describe("the connector's replica id", () => {
  it.each([
    [
      'the flag first',
      'from-flag',
      { SWITCHYARD_REPLICA_ID: 'env', POD_NAME: 'pod', HOSTNAME: 'host' },
      'from-flag',
    ],
    ['then SWITCHYARD_REPLICA_ID', undefined, { SWITCHYARD_REPLICA_ID: 'env', POD_NAME: 'pod' }, 'env'],
    [
      'then POD_NAME',
      undefined,
      { POD_NAME: 'api-connector-7d9f-x2k4q', HOSTNAME: 'host' },
      'api-connector-7d9f-x2k4q',
    ],
    ['then HOSTNAME', undefined, { HOSTNAME: 'api-connector-0' }, 'api-connector-0'],
  ])('takes %s', (_name, flag, env, expected) => {
    expect(resolveReplicaId(flag, env as NodeJS.ProcessEnv)).toBe(expected);
  });

  it('is random per call without any source, and valid for the router', () => {
    const a = resolveReplicaId(undefined, {});
    expect(a).not.toBe(resolveReplicaId(undefined, {}));
    expect(isReplicaId(a)).toBe(true);
    expect(isReplicaId(randomReplicaId())).toBe(true);
  });

  it.each([
    ['pod name.with:colon/and space', 'pod-name.with-colon-and-space'],
    ['--leading', 'leading'],
    ['x'.repeat(80), 'x'.repeat(63)],
  ])('makes %j acceptable to the router', (value, expected) => {
    expect(sanitizeReplicaId(value)).toBe(expected);
    expect(isReplicaId(sanitizeReplicaId(value))).toBe(true);
  });

  it('never returns an empty id', () => {
    expect(isReplicaId(sanitizeReplicaId('///'))).toBe(true);
  });
});
