import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { RECONCILER_DUTIES } from '../../functions/reconciler/duties.ts';
import { processOwnerId } from '../../shared/lease/owner.ts';
import { expireSubscribesDuty } from '../../shared/relay/subscribe-duty.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite.ts';

/** The reconciler handler as the local runtime and Lambda call it: environment in, summary out. */
describe('reconciler handler', () => {
  let local: LocalDynamo;
  const saved = { ...process.env };

  beforeAll(async () => {
    local = await startDynalite();
    await ensureTable(local.client, 'reconciler-handler');
    Object.assign(process.env, {
      [ENV.table]: 'reconciler-handler',
      [ENV.dynamodbEndpoint]: local.endpoint,
      [ENV.wsManagementEndpoint]: 'http://127.0.0.1:9/unused',
      [ENV.topology]: JSON.stringify({
        region: 'us-east-1',
        clusters: [{ id: 'east', roles: ['primary', 'workload', 'default'], region: 'us-east-1' }],
      }),
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
      AWS_REGION: 'us-east-1',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    });
  });
  afterAll(async () => {
    vi.restoreAllMocks();
    process.env = saved;
    await local?.stop();
  });

  it('takes the lease, runs its listed duties in order, keeps its token across runs, and reports failures', async () => {
    // Prepare
    const broken = vi
      .spyOn(expireSubscribesDuty, 'run')
      .mockRejectedValueOnce(new Error('broken on purpose'));
    const { handler } = await import('../../functions/reconciler/index.ts');
    // Act
    const first = await handler();
    const second = await handler();
    // Assess
    expect(first).toMatchObject({ leader: true, token: 1, failed: ['expire-subscribes'] });
    expect(first.ran).toEqual(RECONCILER_DUTIES.map((d) => d.name));
    expect(broken).toHaveBeenCalledTimes(2);
    expect(second).toMatchObject({ leader: true, token: 1, failed: [] });
    const store = new DynamoDbStore(local.client, 'reconciler-handler');
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: processOwnerId(), token: 1 });
  });

  it('releases the lease on graceful shutdown, keeping the token', async () => {
    const { release } = await import('../../functions/reconciler/index.ts');
    await release();
    const store = new DynamoDbStore(local.client, 'reconciler-handler');
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ token: 1, expiresAt: 0 });
  });
});
