import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { ConditionFailedError, ValidationError } from '../../errors/errors.ts';
import { assertDistinctKeys, checkUpdatePaths } from '../conditions.ts';
import {
  type Attrs,
  type Condition,
  type Key,
  MAX_ITEM_BYTES,
  type NewItem,
  type QueryOptions,
  type Store,
  type StoredItem,
  TABLE_KEYS,
  type UpdateOptions,
  type WriteOptions,
} from '../store.ts';
import { type DynamoApi, isDynamoApi, sdkDynamoApi, type WireItem } from './dynamo-api.ts';

/** Builds condition expressions with unique placeholder names. */
class Expr {
  readonly names: Record<string, string> = {};
  readonly values: Record<string, unknown> = {};
  private n = 0;

  name(attr: string): string {
    const p = `#n${this.n++}`;
    this.names[p] = attr;
    return p;
  }

  value(v: unknown): string {
    const p = `:v${this.n++}`;
    this.values[p] = v;
    return p;
  }

  condition(c: Condition): string {
    switch (c.type) {
      case 'absent':
        return `attribute_not_exists(${this.name('pk')})`;
      case 'exists':
        return `attribute_exists(${this.name('pk')})`;
      case 'version':
        return `${this.name('version')} = ${this.value(c.version)}`;
      case 'absentOrExpired':
        return `(attribute_not_exists(${this.name('pk')}) OR ${this.name('expiresAt')} < ${this.value(c.now)})`;
      case 'equals':
        return `${this.name(c.attr)} = ${this.value(c.value)}`;
      case 'in':
        // `IN ()` is a syntax error in DynamoDB; "one of no values" is simply false, as in memory.
        if (c.values.length === 0) {
          const pk = this.name('pk');
          return `(attribute_exists(${pk}) AND attribute_not_exists(${pk}))`;
        }
        return `${this.name(c.attr)} IN (${c.values.map((v) => this.value(v)).join(', ')})`;
      case 'lacks':
        return `attribute_not_exists(${this.name(c.attr)})`;
      case 'fence': {
        const fence = this.name('fence');
        return `(attribute_not_exists(${fence}) OR ${fence} <= ${this.value(c.token)})`;
      }
    }
  }

  conditions(cs: Condition[] | undefined): string | undefined {
    if (!cs || cs.length === 0) return undefined;
    return cs.map((c) => this.condition(c)).join(' AND ');
  }

  params(): {
    ExpressionAttributeNames?: Record<string, string>;
    ExpressionAttributeValues?: WireItem;
  } {
    return {
      ...(Object.keys(this.names).length ? { ExpressionAttributeNames: this.names } : {}),
      ...(Object.keys(this.values).length ? { ExpressionAttributeValues: toWire(this.values) } : {}),
    };
  }
}

/**
 * Lease items are never garbage: their fencing token must keep increasing for the table's whole
 * life. If DynamoDB TTL deleted an expired lease, the next holder would start again at token 1
 * while items still carry `fence` = N, and every fenced write of every later holder would be
 * rejected until the token climbed past N again. So a lease's `expiresAt` (the end of a holding)
 * never becomes a TTL.
 */
function collectsGarbage(key: Key): boolean {
  return !key.pk.startsWith('LEASE#');
}

/** DynamoDB's TTL attribute is in epoch seconds; the code's own `expiresAt` is in milliseconds. */
function withTtl(key: Key, item: Attrs): Attrs {
  return typeof item.expiresAt === 'number' && collectsGarbage(key)
    ? { ...item, [TABLE_KEYS.ttlAttribute]: Math.ceil(item.expiresAt / 1000) }
    : item;
}

/** DynamoDB rejects items above 400 KB server-side on update; the caller gets the same error as the fake. */
function isItemTooLarge(err: unknown): boolean {
  return (
    err instanceof Error &&
    err.name === 'ValidationException' &&
    /item size .*exceeded|maximum allowed size/i.test(err.message)
  );
}

/** As the SDK's document client marshals: undefined fields left out, class instances refused. */
const MARSHALL = { removeUndefinedValues: true, convertClassInstanceToMap: false } as const;
const toWire = (item: Record<string, unknown>): WireItem => marshall(item, MARSHALL);

function strip(item: WireItem | undefined): StoredItem | undefined {
  if (!item) return undefined;
  const { [TABLE_KEYS.ttlAttribute]: _ttl, ...rest } = unmarshall(item);
  return rest as StoredItem;
}

/** A store error's DynamoDB type, whichever transport threw it (see dynamo-api.ts). */
const isConditionFailure = (err: unknown): boolean =>
  err instanceof Error && err.name === 'ConditionalCheckFailedException';

/** DynamoDB's limit on the requests of one BatchWriteItem. */
const BATCH_WRITE_MAX = 25;
/** Calls per batch before unprocessed items (throttling) are an error. */
const BATCH_WRITE_ATTEMPTS = 6;

export class DynamoDbStore implements Store {
  private readonly api: DynamoApi;

  /** `client`: the SDK's client, or a lean transport (the router's, functions/lib/dynamodb-client.ts). */
  constructor(
    client: DynamoDBClient | DynamoApi,
    readonly tableName: string,
  ) {
    this.api = isDynamoApi(client) ? client : sdkDynamoApi(client);
  }

  private async guard<T>(key: Key, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (isConditionFailure(err)) {
        throw new ConditionFailedError(`conditional write lost its race on ${key.pk}/${key.sk}`, { key });
      }
      if (isItemTooLarge(err)) {
        throw new ValidationError(
          `item ${key.pk}/${key.sk} would exceed DynamoDB's 400 KB limit: ${(err as Error).message}`,
        );
      }
      throw err;
    }
  }

  async get(key: Key, opts?: { consistent?: boolean }): Promise<StoredItem | undefined> {
    const out = await this.api.call('GetItem', {
      TableName: this.tableName,
      Key: toWire({ pk: key.pk, sk: key.sk }),
      ConsistentRead: opts?.consistent ?? true,
    });
    return strip(out.Item);
  }

  async put(item: NewItem, opts?: WriteOptions): Promise<StoredItem> {
    const stored = { ...item, version: item.version ?? 1 } as StoredItem;
    const bytes = Buffer.byteLength(JSON.stringify(stored));
    if (bytes > MAX_ITEM_BYTES) {
      throw new ValidationError(
        `item ${item.pk}/${item.sk} is ${bytes} bytes, above DynamoDB's 400 KB limit`,
      );
    }
    const e = new Expr();
    const condition = e.conditions(opts?.conditions);
    await this.guard(item, () =>
      this.api.call('PutItem', {
        TableName: this.tableName,
        Item: toWire(withTtl(item, stored)),
        ...(condition ? { ConditionExpression: condition, ...e.params() } : {}),
      }),
    );
    return JSON.parse(JSON.stringify(stored));
  }

  async putAll(items: NewItem[]): Promise<StoredItem[]> {
    assertDistinctKeys(items);
    const stored = items.map((item) => {
      const s = { ...item, version: item.version ?? 1 } as StoredItem;
      const bytes = Buffer.byteLength(JSON.stringify(s));
      if (bytes > MAX_ITEM_BYTES) {
        throw new ValidationError(
          `item ${item.pk}/${item.sk} is ${bytes} bytes, above DynamoDB's 400 KB limit`,
        );
      }
      return s;
    });
    for (let i = 0; i < stored.length; i += BATCH_WRITE_MAX) {
      let requests: { PutRequest?: { Item: WireItem } }[] = stored
        .slice(i, i + BATCH_WRITE_MAX)
        .map((s) => ({ PutRequest: { Item: toWire(withTtl(s, s)) } }));
      // Items DynamoDB did not get to (throttling) come back unprocessed: sent again, backing off.
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt >= BATCH_WRITE_ATTEMPTS) {
          throw new Error(
            `DynamoDB left ${requests.length} of a batch of puts unprocessed after ${BATCH_WRITE_ATTEMPTS} attempts (throttled): retry later or raise the table's capacity`,
          );
        }
        if (attempt > 0) await new Promise((r) => setTimeout(r, 25 * 2 ** attempt));
        const out = await this.api.call('BatchWriteItem', { RequestItems: { [this.tableName]: requests } });
        requests = out.UnprocessedItems?.[this.tableName] ?? [];
      }
    }
    return JSON.parse(JSON.stringify(stored));
  }

  async update(key: Key, set: Attrs, opts?: UpdateOptions): Promise<StoredItem> {
    checkUpdatePaths(set, opts);
    const e = new Expr();
    const assignments: string[] = [];
    const fields = Object.entries(withTtl(key, set)).filter(
      ([k, v]) => v !== undefined && k !== 'pk' && k !== 'sk',
    );
    for (const [attr, v] of fields) {
      if (attr === 'version') continue;
      assignments.push(`${e.name(attr)} = ${e.value(v)}`);
    }
    const version = e.name('version');
    assignments.push(`${version} = if_not_exists(${version}, ${e.value(0)}) + ${e.value(1)}`);
    const adds = Object.entries(opts?.add ?? {}).map(([attr, n]) => {
      const a = e.name(attr);
      return `${a} = if_not_exists(${a}, ${e.value(0)}) + ${e.value(n)}`;
    });
    const removed = opts?.remove ?? [];
    // An item that stops expiring must not keep the TTL derived from its old `expiresAt`.
    const alsoTtl = removed.includes('expiresAt') && !removed.includes(TABLE_KEYS.ttlAttribute);
    const removes = [...removed, ...(alsoTtl ? [TABLE_KEYS.ttlAttribute] : [])].map((attr) => e.name(attr));
    const condition = e.conditions([{ type: 'exists' }, ...(opts?.conditions ?? [])])!;
    const out = await this.guard(key, () =>
      this.api.call('UpdateItem', {
        TableName: this.tableName,
        Key: toWire({ pk: key.pk, sk: key.sk }),
        UpdateExpression: `SET ${[...assignments, ...adds].join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
        ConditionExpression: condition,
        ReturnValues: 'ALL_NEW',
        ...e.params(),
      }),
    );
    return strip(out.Attributes)!;
  }

  async delete(key: Key, opts?: WriteOptions): Promise<void> {
    const e = new Expr();
    const condition = e.conditions(opts?.conditions);
    await this.guard(key, () =>
      this.api.call('DeleteItem', {
        TableName: this.tableName,
        Key: toWire({ pk: key.pk, sk: key.sk }),
        ...(condition ? { ConditionExpression: condition, ...e.params() } : {}),
      }),
    );
  }

  async query(pk: string, opts?: QueryOptions): Promise<StoredItem[]> {
    const items: StoredItem[] = [];
    let start: WireItem | undefined;
    do {
      const out = await this.api.call('Query', {
        TableName: this.tableName,
        KeyConditionExpression: opts?.skPrefix ? 'pk = :pk AND begins_with(sk, :sk)' : 'pk = :pk',
        ExpressionAttributeValues: toWire({ ':pk': pk, ...(opts?.skPrefix ? { ':sk': opts.skPrefix } : {}) }),
        ConsistentRead: true,
        ...(opts?.limit ? { Limit: opts.limit - items.length } : {}),
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      for (const i of out.Items ?? []) items.push(strip(i)!);
      start = out.LastEvaluatedKey;
    } while (start && (!opts?.limit || items.length < opts.limit));
    return items;
  }

  async listByKind(kind: string, opts?: { limit?: number }): Promise<StoredItem[]> {
    const items: StoredItem[] = [];
    let start: WireItem | undefined;
    do {
      const out = await this.api.call('Query', {
        TableName: this.tableName,
        IndexName: TABLE_KEYS.kindIndex,
        KeyConditionExpression: '#k = :k',
        ExpressionAttributeNames: { '#k': TABLE_KEYS.kindIndexPartitionKey },
        ExpressionAttributeValues: toWire({ ':k': kind }),
        ...(opts?.limit ? { Limit: opts.limit - items.length } : {}),
        ...(start ? { ExclusiveStartKey: start } : {}),
      });
      for (const i of out.Items ?? []) items.push(strip(i)!);
      start = out.LastEvaluatedKey;
    } while (start && (!opts?.limit || items.length < opts.limit));
    return items;
  }
}

/**
 * Creates the table if it is missing (the local runtime and tests; on AWS the CDK stack owns it).
 * Idempotent: a table that already exists is left as it is.
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
    return;
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'kind', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: TABLE_KEYS.kindIndex,
            KeySchema: [
              { AttributeName: 'kind', KeyType: 'HASH' },
              { AttributeName: 'pk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  for (let i = 0; i < 100; i++) {
    const out = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (out.Table?.TableStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
