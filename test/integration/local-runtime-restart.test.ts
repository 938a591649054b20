import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { DataDirInUseError } from '../../infra/local/data-dir-lock.ts';
import { authenticate } from '../../shared/auth/tokens.ts';
import { DynamoDbStore } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { startTestRuntime, TEST_TOPOLOGY, type TestRuntime } from '../helpers/local-runtime.ts';

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

function storeOf(rt: TestRuntime): { store: DynamoDbStore; close(): void } {
  const client = new DynamoDBClient({ region: rt.region, endpoint: rt.dynamodbEndpoint, credentials });
  return { store: new DynamoDbStore(client, rt.tableName), close: () => client.destroy() };
}

describe('local runtime: persistence across restarts', () => {
  const dirs: string[] = [];
  const running: TestRuntime[] = [];
  const tempDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'switchyard-restart-'));
    dirs.push(d);
    return d;
  };
  const start = async (options: Parameters<typeof startTestRuntime>[0]): Promise<TestRuntime> => {
    const rt = await startTestRuntime(options);
    running.push(rt);
    return rt;
  };
  afterEach(async () => {
    for (const rt of running.splice(0)) await rt.stop();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('finds its table data and its tokens again with the same data dir', async () => {
    const dir = tempDir();
    const first = await start({ dir, memory: false });
    expect(first.dataDir).toBe(join(dir, 'data'));
    const a = storeOf(first);
    await a.store.put({ pk: 'SESSION#kept', sk: 'SESSION', kind: 'SESSION', state: 'ready' });
    a.close();
    const tokens = { developer: first.developerToken, clusters: first.clusterTokens };
    await first.stop();

    const second = await start({ dir, memory: false });
    const b = storeOf(second);
    expect(await b.store.get({ pk: 'SESSION#kept', sk: 'SESSION' })).toMatchObject({
      state: 'ready',
      version: 1,
    });
    expect(second.developerToken).toBe(tokens.developer);
    expect(second.clusterTokens).toEqual(tokens.clusters);
    expect(await authenticate(b.store, second.developerToken)).toEqual({ type: 'developer', id: 'local' });
    b.close();
    const state = JSON.parse(readFileSync(join(dir, 'local.json'), 'utf8'));
    expect(state.httpUrl).toBe(second.httpUrl);
    expect(state.developerToken).toBe(tokens.developer);
  });

  it('keeps the tokens of local.json even with --memory, registering them in the fresh table', async () => {
    const dir = tempDir();
    const first = await start({ dir });
    const developer = first.developerToken;
    await first.stop();
    const second = await start({ dir });
    expect(second.developerToken).toBe(developer);
    const s = storeOf(second);
    expect(await authenticate(s.store, developer)).toEqual({ type: 'developer', id: 'local' });
    s.close();
  });

  it('issues a token for a cluster added to the topology and drops the removed one', async () => {
    const dir = tempDir();
    const first = await start({ dir });
    await first.stop();
    const topology = {
      ...TEST_TOPOLOGY,
      clusters: [TEST_TOPOLOGY.clusters[0]!, { id: 'north', roles: ['workload'], queues: [] }],
    };
    const second = await start({ dir, topology });
    expect(Object.keys(second.clusterTokens).sort()).toEqual(['east', 'north']);
    expect(second.clusterTokens.east).toBe(first.clusterTokens.east);
  });

  it('refuses a second runtime on a data dir in use, naming the process', async () => {
    const dir = tempDir();
    await start({ dir, memory: false });
    const err = await startTestRuntime({ dir, memory: false, stateFile: join(dir, 'other.json') }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DataDirInUseError);
    expect((err as Error).message).toContain(`pid ${process.pid}`);
  });
});
