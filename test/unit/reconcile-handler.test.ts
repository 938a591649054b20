import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENV } from '../../functions/lib/env.ts';
import { processOwnerId } from '../../shared/lease/owner.ts';
import { registerDuty, unregisterDuty } from '../../shared/reconcile/duties.ts';
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
    unregisterDuty('handler-test-ok');
    unregisterDuty('handler-test-broken');
    process.env = saved;
    await local?.stop();
  });

  it('takes the lease, runs the registered duties, keeps its token across runs, and reports failures', async () => {
    // Prepare
    registerDuty({
      name: 'handler-test-ok',
      run: async (ctx) => ctx.fenced.put({ ...keys.session('h'), kind: 'SESSION' }),
    });
    registerDuty({
      name: 'handler-test-broken',
      run: async () => {
        throw new Error('broken on purpose');
      },
    });
    const { handler } = await import('../../functions/reconciler/index.ts');
    // Act
    const first = await handler();
    const second = await handler();
    // Assess
    // The catalog's own duties (sessions, branches, splits) run too, in registration order.
    expect(first).toMatchObject({ leader: true, token: 1, failed: ['handler-test-broken'] });
    expect(first.ran).toEqual(
      expect.arrayContaining([
        'handler-test-ok',
        'handler-test-broken',
        'expire-sessions',
        'sync-branches',
        'retire-split-queues',
      ]),
    );
    expect(first.ran.indexOf('handler-test-ok')).toBeLessThan(first.ran.indexOf('handler-test-broken'));
    expect(second).toMatchObject({ leader: true, token: 1 });
    const store = new DynamoDbStore(local.client, 'reconciler-handler');
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ owner: processOwnerId(), token: 1 });
    expect(await store.get(keys.session('h'))).toMatchObject({ fence: 1 });
  });

  it('releases the lease on graceful shutdown, keeping the token', async () => {
    const { release } = await import('../../functions/reconciler/index.ts');
    await release();
    const store = new DynamoDbStore(local.client, 'reconciler-handler');
    expect(await store.get(keys.lease('reconciler'))).toMatchObject({ token: 1, expiresAt: 0 });
  });
});
