import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import dynalite from 'dynalite';
import { ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { LOCAL_CREDENTIALS } from './credentials.ts';

export interface LocalDynamoDb {
  endpoint: string;
  client: DynamoDBClient;
  stop(): Promise<void>;
}

/**
 * dynalite in this process, on a free loopback port, with the router's table created.
 * `path` persists the table in LevelDB; without it everything is in memory.
 */
export async function startDynamoDb(opts: {
  path: string | undefined;
  region: string;
  tableName: string;
  /** A DynamoDB that runs elsewhere (another process): used as it is, the table created if missing. */
  endpoint?: string | undefined;
}): Promise<LocalDynamoDb> {
  if (opts.endpoint) return await useDynamoDb(opts.endpoint, opts.region, opts.tableName);
  // createTableMs 0: the table is ACTIVE at once, which keeps start-up fast.
  const server = dynalite({ ...(opts.path ? { path: opts.path } : {}), createTableMs: 0 });
  // Port 0 here is the OS's free port (only dynalite's CLI turns 0 into 4567).
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = new DynamoDBClient({ region: opts.region, endpoint, credentials: LOCAL_CREDENTIALS });
  const stop = async (): Promise<void> => {
    client.destroy();
    // Idle keep-alive sockets would hold close() open; dynalite's close also closes LevelDB.
    server.closeIdleConnections();
    await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
  };
  try {
    await ensureTable(client, opts.tableName);
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
  return { endpoint, client, stop };
}

async function useDynamoDb(endpoint: string, region: string, tableName: string): Promise<LocalDynamoDb> {
  const client = new DynamoDBClient({ region, endpoint, credentials: LOCAL_CREDENTIALS });
  try {
    await ensureTable(client, tableName);
  } catch (err) {
    client.destroy();
    throw new Error(
      `the DynamoDB at ${endpoint} did not take the table ${tableName}: ${(err as Error).message}`,
    );
  }
  return { endpoint, client, stop: async () => client.destroy() };
}
