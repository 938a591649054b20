import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DynamoMeter, startDynamoMeter } from '../../bench/routing/dynamo-meter.ts';
import { signedDynamo } from '../../functions/lib/dynamodb-client.ts';
import { ConditionFailedError } from '../../shared/errors/errors.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { type LocalDynamo, localClient, startDynalite } from '../helpers/dynalite.ts';

/**
 * The routing benchmark's DynamoDB meter (a TCP splice that reads the requests passing through):
 * every call is counted once, by operation and key kind, whichever client made it, including
 * requests that arrive in several TCP chunks and several on one kept-alive socket.
 */
describe('bench: the DynamoDB meter at the wire', () => {
  let local: LocalDynamo;
  let meter: DynamoMeter;
  beforeAll(async () => {
    local = await startDynalite();
    await ensureTable(local.client, 'meter-table');
    meter = await startDynamoMeter();
    meter.target = local.endpoint;
  });
  afterAll(async () => {
    await meter?.stop();
    await local?.stop();
  });

  it("counts each call of the router's signed client and of the SDK's, by operation and key kind", async () => {
    const signed = new DynamoDbStore(
      signedDynamo({
        endpoint: meter.endpoint,
        region: 'us-east-1',
        credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
      }),
      'meter-table',
    );
    const sdk = new DynamoDbStore(localClient(meter.endpoint), 'meter-table');
    const before = meter.snapshot();

    await signed.put({ ...keys.session('m1'), kind: 'SESSION', state: 'pending' });
    // 25 children of ~6 KB each: one BatchWriteItem of ~150 KB, which crosses many TCP chunks.
    await signed.putAll(
      Array.from({ length: 25 }, (_, i) => ({
        ...keys.child('m1', `c${i}`),
        kind: 'CHILD',
        pad: 'x'.repeat(6_000),
      })),
    );
    for (let i = 0; i < 5; i++) await signed.update(keys.session('m1'), { n: i });
    await sdk.get(keys.session('m1'));
    expect(await signed.query(keys.session('m1').pk)).toHaveLength(26);
    await expect(
      signed.update(
        keys.session('m1'),
        {},
        { conditions: [{ type: 'equals', attr: 'state', value: 'ready' }] },
      ),
    ).rejects.toBeInstanceOf(ConditionFailedError);

    const after = meter.snapshot();
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([k, v]) => [k, v - (before[k] ?? 0)] as const)
        .filter(([, v]) => v !== 0),
    );
    expect(delta).toEqual({
      'PutItem SESSION': 1,
      'BatchWriteItem SESSION': 1,
      'UpdateItem SESSION': 6,
      'GetItem SESSION': 1,
      'Query SESSION': 1,
      '(of which ConditionalCheckFailed)': 1,
    });
  });
});
