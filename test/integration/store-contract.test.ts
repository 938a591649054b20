import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { signedDynamo } from '../../functions/lib/dynamodb-client.ts';
import { ConditionFailedError, ValidationError } from '../../shared/errors/errors.ts';
import { DynamoDbStore, ensureTable } from '../../shared/store/dynamodb/dynamodb-store.ts';
import { keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Condition, Key, Store, StoredItem } from '../../shared/store/store.ts';
import { type LocalDynamo, startDynalite } from '../helpers/dynalite.ts';
import { SKIP_ENV, skipDynamoDbLocal, startDynamoDbLocal } from '../helpers/dynamodb-local.ts';

/**
 * One contract, three backends: the in-memory fake, DynamoDbStore on dynalite, and DynamoDbStore
 * on AWS's DynamoDB Local (each DynamoDB through both transports, the SDK's and the lean one). Whatever the fake lets a unit test do, the real store must do the same.
 */

interface Backend {
  /** A store on a fresh, empty table. */
  fresh(): Promise<Store>;
  /** The raw DynamoDB view of an item, for adapter-level checks (TTL); absent for the fake. */
  raw?: (key: Key) => Promise<Record<string, unknown> | undefined>;
}

let tableCounter = 0;

/**
 * `transport`: the SDK's client, or the router's lean signed client (what the functions use):
 * both must keep the same contract, against each DynamoDB.
 */
function dynamoBackend(local: () => LocalDynamo, transport: 'sdk' | 'signed'): Backend {
  let table = '';
  return {
    async fresh() {
      table = `contract-${process.pid}-${++tableCounter}`;
      await ensureTable(local().client, table);
      const api =
        transport === 'sdk'
          ? local().client
          : signedDynamo({
              endpoint: local().endpoint,
              region: 'us-east-1',
              credentials: async () => ({ accessKeyId: 'local', secretAccessKey: 'local' }),
              maxAttempts: 1,
            });
      return new DynamoDbStore(api, table);
    },
    async raw(key) {
      const out = await local().client.send(
        new GetItemCommand({
          TableName: table,
          Key: { pk: { S: key.pk }, sk: { S: key.sk } },
          ConsistentRead: true,
        }),
      );
      return out.Item;
    },
  };
}

const k = (pk: string, sk = 'ITEM'): Key => ({ pk, sk });

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the promise to reject');
}

function storeContract(backend: () => Backend): void {
  let store: Store;
  beforeEach(async () => {
    store = await backend().fresh();
  });

  describe('put and get', () => {
    it('round-trips an item and defaults version to 1', async () => {
      // Act
      const written = await store.put({ ...k('A'), kind: 'T', name: 'a', n: 3, flag: true, list: [1, 'x'] });
      // Assess
      expect(written).toEqual({
        ...k('A'),
        kind: 'T',
        name: 'a',
        n: 3,
        flag: true,
        list: [1, 'x'],
        version: 1,
      });
      expect(await store.get(k('A'))).toEqual(written);
    });

    it('keeps an explicit version and replaces the whole item', async () => {
      await store.put({ ...k('A'), kind: 'T', old: 1 });
      await store.put({ ...k('A'), kind: 'T', fresh: 2, version: 7 });
      expect(await store.get(k('A'))).toEqual({ ...k('A'), kind: 'T', fresh: 2, version: 7 });
    });

    it('returns undefined for a missing item', async () => {
      expect(await store.get(k('missing'))).toBeUndefined();
    });

    it('drops undefined attributes', async () => {
      await store.put({ ...k('A'), kind: 'T', gone: undefined, kept: 'x' });
      const item = await store.get(k('A'));
      expect(item && 'gone' in item).toBe(false);
      expect(item?.kept).toBe('x');
    });

    it('hands out copies: mutating a returned item does not change the stored one', async () => {
      const written = await store.put({ ...k('A'), kind: 'T', nested: { a: 1 } });
      (written.nested as { a: number }).a = 99;
      const read = await store.get(k('A'));
      (read!.nested as { a: number }).a = 98;
      expect((await store.get(k('A')))?.nested).toEqual({ a: 1 });
    });

    it('never shows the TTL attribute it derives from expiresAt', async () => {
      await store.put({ ...k('A'), kind: 'T', expiresAt: 1_700_000_000_123 });
      const item = await store.get(k('A'));
      expect(item?.expiresAt).toBe(1_700_000_000_123);
      expect(item && 'ttl' in item).toBe(false);
    });
  });

  describe('conditions', () => {
    // Every condition type, holding and failing, on put, update and delete.
    const existing = {
      ...k('C'),
      kind: 'T',
      version: 3,
      expiresAt: 1000,
      state: 'ready',
      count: 2,
      on: true,
      fence: 5,
    };
    const cases: { name: string; condition: Condition; onExisting: boolean; onMissing: boolean }[] = [
      { name: 'absent', condition: { type: 'absent' }, onExisting: false, onMissing: true },
      {
        name: 'lacks an attribute it has',
        condition: { type: 'lacks', attr: 'state' },
        onExisting: false,
        onMissing: true,
      },
      {
        name: 'lacks an attribute it has not (a name with # in it)',
        condition: { type: 'lacks', attr: 'ready#c1' },
        onExisting: true,
        onMissing: true,
      },
      { name: 'exists', condition: { type: 'exists' }, onExisting: true, onMissing: false },
      {
        name: 'version equal',
        condition: { type: 'version', version: 3 },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'version behind',
        condition: { type: 'version', version: 2 },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'absentOrExpired, expired',
        condition: { type: 'absentOrExpired', now: 1001 },
        onExisting: true,
        onMissing: true,
      },
      {
        name: 'absentOrExpired, expiring right now (strictly before)',
        condition: { type: 'absentOrExpired', now: 1000 },
        onExisting: false,
        onMissing: true,
      },
      {
        name: 'absentOrExpired, alive',
        condition: { type: 'absentOrExpired', now: 999 },
        onExisting: false,
        onMissing: true,
      },
      {
        name: 'equals string',
        condition: { type: 'equals', attr: 'state', value: 'ready' },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'equals string, other value',
        condition: { type: 'equals', attr: 'state', value: 'pending' },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'equals number',
        condition: { type: 'equals', attr: 'count', value: 2 },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'equals number is not equals string',
        condition: { type: 'equals', attr: 'count', value: '2' as unknown as number },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'equals boolean',
        condition: { type: 'equals', attr: 'on', value: true },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'equals on a missing attribute',
        condition: { type: 'equals', attr: 'nope', value: 'x' },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'in, member',
        condition: { type: 'in', attr: 'state', values: ['pending', 'ready'] },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'in, not a member',
        condition: { type: 'in', attr: 'state', values: ['pending', 'ended'] },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'in, numbers',
        condition: { type: 'in', attr: 'count', values: [1, 2] },
        onExisting: true,
        onMissing: false,
      },
      {
        name: 'in, empty list',
        condition: { type: 'in', attr: 'state', values: [] },
        onExisting: false,
        onMissing: false,
      },
      {
        name: 'fence, newer token',
        condition: { type: 'fence', token: 6 },
        onExisting: true,
        onMissing: true,
      },
      {
        name: 'fence, same token',
        condition: { type: 'fence', token: 5 },
        onExisting: true,
        onMissing: true,
      },
      {
        name: 'fence, stale token',
        condition: { type: 'fence', token: 4 },
        onExisting: false,
        onMissing: true,
      },
    ];

    for (const c of cases) {
      it(`put: ${c.name}`, async () => {
        // Prepare
        await store.put(existing);
        // Act
        const onExisting = await store
          .put({ ...k('C'), kind: 'T', marker: 'new' }, { conditions: [c.condition] })
          .then(() => true)
          .catch((err: unknown) => {
            expect(err).toBeInstanceOf(ConditionFailedError);
            return false;
          });
        const onMissing = await store
          .put({ ...k('M'), kind: 'T', marker: 'new' }, { conditions: [c.condition] })
          .then(() => true)
          .catch((err: unknown) => {
            expect(err).toBeInstanceOf(ConditionFailedError);
            return false;
          });
        // Assess
        expect({ onExisting, onMissing }).toEqual({ onExisting: c.onExisting, onMissing: c.onMissing });
        expect((await store.get(k('C')))?.marker).toBe(c.onExisting ? 'new' : undefined);
        expect((await store.get(k('M')))?.marker).toBe(c.onMissing ? 'new' : undefined);
      });

      it(`update: ${c.name}`, async () => {
        await store.put(existing);
        const ok = await store
          .update(k('C'), { marker: 'new' }, { conditions: [c.condition] })
          .then(() => true)
          .catch((err: unknown) => {
            expect(err).toBeInstanceOf(ConditionFailedError);
            return false;
          });
        expect(ok).toBe(c.onExisting);
        const item = await store.get(k('C'));
        expect(item?.marker).toBe(c.onExisting ? 'new' : undefined);
        expect(item?.version).toBe(c.onExisting ? 4 : 3);
      });

      it(`delete: ${c.name}`, async () => {
        await store.put(existing);
        const ok = await store
          .delete(k('C'), { conditions: [c.condition] })
          .then(() => true)
          .catch((err: unknown) => {
            expect(err).toBeInstanceOf(ConditionFailedError);
            return false;
          });
        expect(ok).toBe(c.onExisting);
        expect(await store.get(k('C'))).toEqual(c.onExisting ? undefined : existing);
      });
    }

    it('absentOrExpired is false for an item that never expires', async () => {
      await store.put({ ...k('C'), kind: 'T' });
      const err = await rejection(
        store.put({ ...k('C'), kind: 'T' }, { conditions: [{ type: 'absentOrExpired', now: 9e15 }] }),
      );
      expect(err).toBeInstanceOf(ConditionFailedError);
    });

    it('ANDs several conditions: one failing fails the write', async () => {
      await store.put(existing);
      await store.update(
        k('C'),
        { a: 1 },
        {
          conditions: [
            { type: 'version', version: 3 },
            { type: 'fence', token: 5 },
          ],
        },
      );
      const err = await rejection(
        store.update(
          k('C'),
          { a: 2 },
          {
            conditions: [
              { type: 'version', version: 4 },
              { type: 'equals', attr: 'state', value: 'ended' },
            ],
          },
        ),
      );
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect((err as ConditionFailedError).code).toBe('conflict');
      expect((await store.get(k('C')))?.a).toBe(1);
    });
  });

  describe('update', () => {
    it('bumps version by one on every update and returns the item as written', async () => {
      await store.put({ ...k('U'), kind: 'T', a: 1 });
      const one = await store.update(k('U'), { b: 2 });
      const two = await store.update(k('U'), { a: 3 });
      expect(one).toEqual({ ...k('U'), kind: 'T', a: 1, b: 2, version: 2 });
      expect(two).toEqual({ ...k('U'), kind: 'T', a: 3, b: 2, version: 3 });
      expect(await store.get(k('U'))).toEqual(two);
    });

    it('fails with ConditionFailedError when the item is absent (never creates)', async () => {
      const err = await rejection(store.update(k('nope'), { a: 1 }));
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect(await store.get(k('nope'))).toBeUndefined();
    });

    it('ignores pk, sk, version and undefined values in set', async () => {
      await store.put({ ...k('U'), kind: 'T', a: 1 });
      const out = await store.update(k('U'), { pk: 'other', sk: 'other', version: 100, a: undefined, b: 2 });
      expect(out).toEqual({ ...k('U'), kind: 'T', a: 1, b: 2, version: 2 });
      expect(await store.get({ pk: 'other', sk: 'other' })).toBeUndefined();
    });

    it('removes attributes', async () => {
      await store.put({ ...k('U'), kind: 'T', a: 1, b: 2, c: 3 });
      const out = await store.update(k('U'), { d: 4 }, { remove: ['a', 'c', 'never-there'] });
      expect(out).toEqual({ ...k('U'), kind: 'T', b: 2, d: 4, version: 2 });
    });

    it('adds to counters, creating them at 0, together with set', async () => {
      await store.put({ ...k('U'), kind: 'T', hits: 5 });
      await store.update(k('U'), { seen: 'x' }, { add: { hits: 2, misses: 1 } });
      const out = await store.update(k('U'), {}, { add: { hits: -10, misses: 1 } });
      expect(out).toMatchObject({ hits: -3, misses: 2, seen: 'x', version: 3 });
    });

    it.each([
      ['set and remove', { a: 1 }, { remove: ['a'] }],
      ['set and add', { a: 1 }, { add: { a: 1 } }],
      ['add and remove', {}, { add: { a: 1 }, remove: ['a'] }],
      ['remove version', {}, { remove: ['version'] }],
      ['add to version', {}, { add: { version: 1 } }],
      ['remove the key', {}, { remove: ['pk'] }],
    ])(
      'rejects an update that names an attribute twice or touches store attributes: %s',
      async (_n, set, opts) => {
        await store.put({ ...k('U'), kind: 'T', a: 0 });
        const err = await rejection(store.update(k('U'), set, opts));
        expect(err).toBeInstanceOf(ValidationError);
        expect((await store.get(k('U')))?.version).toBe(1);
      },
    );
  });

  describe('delete', () => {
    it('deletes unconditionally, and deleting a missing item is not an error', async () => {
      await store.put({ ...k('D'), kind: 'T' });
      await store.delete(k('D'));
      await store.delete(k('D'));
      expect(await store.get(k('D'))).toBeUndefined();
    });
  });

  describe('query', () => {
    beforeEach(async () => {
      // Written out of order: the store sorts by sk.
      for (const sk of ['CHILD#c', 'SESSION', 'CHILD#a', 'SPLIT#q', 'CHILD#b']) {
        await store.put({ pk: 'SESSION#s1', sk, kind: sk.split('#')[0]! });
      }
      await store.put({ pk: 'SESSION#s2', sk: 'CHILD#z', kind: 'CHILD' });
    });

    it('returns one partition sorted by sk', async () => {
      const items = await store.query('SESSION#s1');
      expect(items.map((i) => i.sk)).toEqual(['CHILD#a', 'CHILD#b', 'CHILD#c', 'SESSION', 'SPLIT#q']);
    });

    it('filters by sk prefix', async () => {
      const items = await store.query('SESSION#s1', { skPrefix: 'CHILD#' });
      expect(items.map((i) => i.sk)).toEqual(['CHILD#a', 'CHILD#b', 'CHILD#c']);
    });

    it('stops at the limit, keeping the order', async () => {
      const items = await store.query('SESSION#s1', { skPrefix: 'CHILD#', limit: 2 });
      expect(items.map((i) => i.sk)).toEqual(['CHILD#a', 'CHILD#b']);
    });

    it('returns nothing for an empty partition', async () => {
      expect(await store.query('SESSION#none')).toEqual([]);
    });
  });

  describe('query across DynamoDB pages (> 1 MB)', () => {
    it('follows pagination to return every item, and stops at a limit spanning pages', async () => {
      // Prepare: 5 x 300 KB = 1.5 MB in one partition, more than one 1 MB page.
      const blob = 'x'.repeat(300 * 1024);
      for (let i = 0; i < 5; i++) await store.put({ pk: 'BIG', sk: `I#${i}`, kind: 'BIG', blob });
      // Act
      const all = await store.query('BIG');
      const four = await store.query('BIG', { limit: 4 });
      // Assess
      expect(all.map((i) => i.sk)).toEqual(['I#0', 'I#1', 'I#2', 'I#3', 'I#4']);
      expect(all.every((i) => i.blob === blob)).toBe(true);
      expect(four.map((i) => i.sk)).toEqual(['I#0', 'I#1', 'I#2', 'I#3']);
    });
  });

  describe('listByKind', () => {
    it('lists every item of a kind across partitions, and only that kind', async () => {
      for (const id of ['c', 'a', 'b']) await store.put({ ...keys.cluster(id), kind: 'CLUSTER', id });
      await store.put({ ...keys.session('s'), kind: 'SESSION' });
      await store.put({ ...keys.child('s', 'a'), kind: 'CHILD' });
      await store.put({ ...keys.child('s', 'b'), kind: 'CHILD' });
      const clusters = await store.listByKind('CLUSTER');
      expect(clusters.map((c) => c.id)).toEqual(['a', 'b', 'c']);
      expect((await store.listByKind('CHILD')).map((c) => c.sk).sort()).toEqual(['CHILD#a', 'CHILD#b']);
      expect(await store.listByKind('NOTHING')).toEqual([]);
    });

    it('honours a limit', async () => {
      for (const id of ['a', 'b', 'c', 'd']) await store.put({ ...keys.cluster(id), kind: 'CLUSTER' });
      expect(await store.listByKind('CLUSTER', { limit: 3 })).toHaveLength(3);
    });
  });

  describe('putAll (a batch of unconditional puts)', () => {
    it('writes every item at version 1 (or its own), replacing what was there, across batches of 25', async () => {
      // Arrange: one of the keys already holds an item
      await store.put({ pk: 'SESSION#b', sk: 'CHILD#c07', kind: 'OLD', stale: true });
      const items = Array.from({ length: 30 }, (_, i) => ({
        pk: 'SESSION#b',
        sk: `CHILD#c${String(i).padStart(2, '0')}`,
        kind: 'CHILD',
        n: i,
        ...(i === 29 ? { version: 4 } : {}),
      }));

      // Act
      const written = await store.putAll(items);

      // Assess
      expect(written).toHaveLength(30);
      expect(written[3]).toEqual({ ...items[3], version: 1 });
      const read = await store.query('SESSION#b');
      expect(read.map((i) => i.n)).toEqual(items.map((i) => i.n));
      expect(read[7]).toEqual({ pk: 'SESSION#b', sk: 'CHILD#c07', kind: 'CHILD', n: 7, version: 1 });
      expect(read[29]!.version).toBe(4);
      expect(await store.listByKind('CHILD')).toHaveLength(30);
    });

    it('writes nothing for an empty batch', async () => {
      expect(await store.putAll([])).toEqual([]);
    });

    it('refuses a batch naming one key twice, and one with an item above 400 KB, before writing any', async () => {
      const twice = await rejection(
        store.putAll([
          { ...k('D1'), kind: 'T' },
          { ...k('D2'), kind: 'T' },
          { ...k('D1'), kind: 'T', again: true },
        ]),
      );
      expect(twice).toBeInstanceOf(ValidationError);
      expect((twice as Error).message).toMatch(/D1\/ITEM twice/);
      const big = await rejection(
        store.putAll([
          { ...k('B1'), kind: 'T' },
          { ...k('B2'), kind: 'T', blob: 'x'.repeat(401 * 1024) },
        ]),
      );
      expect(big).toBeInstanceOf(ValidationError);
      for (const key of ['D1', 'D2', 'B1', 'B2']) expect(await store.get(k(key))).toBeUndefined();
    });
  });

  describe('item size (400 KB)', () => {
    it('rejects a put above 400 KB with ValidationError and accepts one just below', async () => {
      const err = await rejection(store.put({ ...k('S'), kind: 'T', blob: 'x'.repeat(401 * 1024) }));
      expect(err).toBeInstanceOf(ValidationError);
      expect(await store.get(k('S'))).toBeUndefined();
      await store.put({ ...k('S'), kind: 'T', blob: 'x'.repeat(399 * 1024) });
      expect((await store.get(k('S')))?.blob).toHaveLength(399 * 1024);
    });

    it('rejects an update that grows an item above 400 KB with ValidationError', async () => {
      await store.put({ ...k('S'), kind: 'T', a: 'x'.repeat(300 * 1024) });
      const err = await rejection(store.update(k('S'), { b: 'y'.repeat(150 * 1024) }));
      expect(err).toBeInstanceOf(ValidationError);
      expect((await store.get(k('S')))?.version).toBe(1);
    });
  });

  describe('races', () => {
    it('a writer that read an old version loses with ConditionFailedError and changes nothing', async () => {
      await store.put({ ...k('R'), kind: 'T', owner: 'none' });
      const seenByA = await store.get(k('R'));
      const seenByB = await store.get(k('R'));
      await store.update(
        k('R'),
        { owner: 'a' },
        { conditions: [{ type: 'version', version: seenByA!.version }] },
      );
      const err = await rejection(
        store.update(
          k('R'),
          { owner: 'b' },
          { conditions: [{ type: 'version', version: seenByB!.version }] },
        ),
      );
      expect(err).toBeInstanceOf(ConditionFailedError);
      expect(await store.get(k('R'))).toMatchObject({ owner: 'a', version: 2 });
    });

    it('N parallel conditional updates on one version: exactly one wins', async () => {
      // Prepare
      await store.put({ ...k('R'), kind: 'T', owner: 'none' });
      const n = 25;
      // Act
      const outcomes = await Promise.allSettled(
        Array.from({ length: n }, (_, i) =>
          store.update(k('R'), { owner: `w${i}` }, { conditions: [{ type: 'version', version: 1 }] }),
        ),
      );
      // Assess
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.every((o) => o.reason instanceof ConditionFailedError)).toBe(true);
      const winner = (won[0] as PromiseFulfilledResult<StoredItem>).value.owner;
      expect(await store.get(k('R'))).toMatchObject({ owner: winner, version: 2 });
    });

    it('N parallel creations with absent: exactly one wins', async () => {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 25 }, (_, i) =>
          store.put({ ...k('P'), kind: 'T', by: i }, { conditions: [{ type: 'absent' }] }),
        ),
      );
      expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    });

    it('N parallel counter increments all count', async () => {
      await store.put({ ...k('N'), kind: 'T' });
      await Promise.all(Array.from({ length: 25 }, () => store.update(k('N'), {}, { add: { hits: 1 } })));
      expect(await store.get(k('N'))).toMatchObject({ hits: 25, version: 26 });
    });

    it('N parallel fenced writes with distinct tokens: the store ends at the highest one written last', async () => {
      await store.put({ ...k('F'), kind: 'T', fence: 0 });
      const tokens = Array.from({ length: 20 }, (_, i) => i + 1);
      const outcomes = await Promise.allSettled(
        tokens.map((t) =>
          store.update(k('F'), { fence: t, by: t }, { conditions: [{ type: 'fence', token: t }] }),
        ),
      );
      const item = await store.get(k('F'));
      // Whatever order they landed in, the highest token is accepted (nothing newer can fence it out).
      expect(item?.fence).toBe(20);
      expect(outcomes[19]?.status).toBe('fulfilled');
      expect(item?.version).toBe(1 + outcomes.filter((o) => o.status === 'fulfilled').length);
    });
  });
}

function dynamoSpecific(backend: () => Backend): void {
  let store: Store;
  beforeEach(async () => {
    store = await backend().fresh();
  });

  it('sets DynamoDB TTL (epoch seconds) from expiresAt on put and update', async () => {
    await store.put({ ...keys.session('t'), kind: 'SESSION', expiresAt: 1_700_000_000_001 });
    expect((await backend().raw!(keys.session('t')))?.ttl).toEqual({ N: '1700000001' });
    await store.update(keys.session('t'), { expiresAt: 1_800_000_000_000 });
    expect((await backend().raw!(keys.session('t')))?.ttl).toEqual({ N: '1800000000' });
  });

  it('removes the TTL together with expiresAt', async () => {
    await store.put({ ...keys.session('t'), kind: 'SESSION', expiresAt: 1_700_000_000_001 });
    await store.update(keys.session('t'), {}, { remove: ['expiresAt'] });
    const raw = await backend().raw!(keys.session('t'));
    expect(raw && 'ttl' in raw).toBe(false);
    expect(raw && 'expiresAt' in raw).toBe(false);
  });

  it('never gives a lease item a TTL: its fencing token must outlive every expiry', async () => {
    await store.put({ ...keys.lease('x'), kind: 'LEASE', token: 9, expiresAt: 1_700_000_000_000 });
    await store.update(keys.lease('x'), { expiresAt: 0 });
    const raw = await backend().raw!(keys.lease('x'));
    expect(raw?.token).toEqual({ N: '9' });
    expect(raw && 'ttl' in raw).toBe(false);
  });
}

describe('store contract: MemoryStore', () => {
  storeContract(() => ({ fresh: async () => new MemoryStore() }));
});

describe('store contract: DynamoDbStore on dynalite', () => {
  let local: LocalDynamo;
  beforeAll(async () => {
    local = await startDynalite();
  });
  afterAll(async () => {
    await local?.stop();
  });
  for (const transport of ['sdk', 'signed'] as const) {
    describe(`through the ${transport === 'sdk' ? "SDK's client" : 'lean signed client'}`, () => {
      const backend = dynamoBackend(() => local, transport);
      storeContract(() => backend);
      describe('DynamoDB adapter', () => dynamoSpecific(() => backend));
    });
  }
});

const ddbLocal = skipDynamoDbLocal();
if (ddbLocal.skip) {
  console.warn(`store contract: DynamoDB Local skipped (${SKIP_ENV}=1): ${ddbLocal.reason}`);
}

describe.skipIf(ddbLocal.skip)('store contract: DynamoDbStore on DynamoDB Local', () => {
  let local: LocalDynamo;
  beforeAll(async () => {
    // Fails loudly (with the reason and the way out) when Java or the jar is missing.
    local = await startDynamoDbLocal();
  });
  afterAll(async () => {
    await local?.stop();
  });
  for (const transport of ['sdk', 'signed'] as const) {
    describe(`through the ${transport === 'sdk' ? "SDK's client" : 'lean signed client'}`, () => {
      const backend = dynamoBackend(() => local, transport);
      storeContract(() => backend);
      describe('DynamoDB adapter', () => dynamoSpecific(() => backend));
    });
  }
});
