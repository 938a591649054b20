import { describe, expect, it } from 'vitest';
import { ConditionFailedError } from '../../shared/errors/errors.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import { updateOnVersion } from '../../shared/store/versioned.ts';

const key = { pk: 'T#1', sk: 'ITEM' };

describe('updateOnVersion: read, change, write back on the version read', () => {
  it('writes what the change says and gives back its result', async () => {
    const store = new MemoryStore();
    await store.put({ ...key, kind: 'T', n: 1 });
    const out = await updateOnVersion(
      store,
      key,
      (item) => ({ write: { n: (item!.n as number) + 1 }, result: 'ok' }),
      {
        what: 'the test item',
      },
    );
    expect(out).toBe('ok');
    expect((await store.get(key))!.n).toBe(2);
  });

  it('starts again from a fresh read when another writer got in between, and loses no write', async () => {
    let interfered = false;
    // A racing writer: it changes the item after the change read it, once.
    const racing = new MemoryStore();
    await racing.put({ ...key, kind: 'T', n: 10 });
    const get = racing.get.bind(racing);
    racing.get = async (k) => {
      const item = await get(k);
      if (!interfered) {
        interfered = true;
        await racing.update(key, { n: 20 });
      }
      return item;
    };
    const reads: number[] = [];
    await updateOnVersion(
      racing,
      key,
      (item) => {
        reads.push(item!.n as number);
        return { write: { n: (item!.n as number) + 1 }, result: undefined };
      },
      { what: 'the test item' },
    );
    expect(reads).toEqual([10, 20]);
    expect((await racing.get(key))!.n).toBe(21);
  });

  it('writes nothing when the change skips, and when the item is absent', async () => {
    const store = new MemoryStore();
    expect(
      await updateOnVersion(store, key, (item) => ({ skip: item ? 'there' : 'absent' }), { what: 'x' }),
    ).toBe('absent');
    await store.put({ ...key, kind: 'T', n: 1 });
    await updateOnVersion(store, key, () => ({ skip: undefined }), { what: 'x' });
    expect((await store.get(key))!.version).toBe(1);
  });

  it('gives up with a ConditionFailedError naming what kept changing', async () => {
    const store = new MemoryStore();
    await store.put({ ...key, kind: 'T', n: 0 });
    const get = store.get.bind(store);
    store.get = async (k) => {
      const item = await get(k);
      await store.update(key, { n: Math.random() });
      return item;
    };
    const err = await updateOnVersion(store, key, () => ({ write: { n: 1 }, result: 1 }), {
      what: 'the test item',
      attempts: 3,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConditionFailedError);
    expect((err as Error).message).toBe('the test item kept changing under 3 attempts');
  });
});
