import { describe, expect, it } from 'vitest';
import {
  applyStatus,
  createBranch,
  expiredBranches,
  extendTtl,
  getBranch,
  listBranches,
  loadBranch,
  markDropSent,
  markPending,
  requestDelete,
  TOMBSTONE_MS,
} from '../../shared/branches/branches.ts';
import { BranchDeletingError, BranchIdTakenError } from '../../shared/branches/errors.ts';
import { branchDatabaseName, isBranchDatabaseName, newBranchId } from '../../shared/branches/names.ts';
import {
  BranchSpecSchema,
  BranchStatusReportSchema,
  CreateBranchSchema,
  DEFAULT_TTL_SECS,
} from '../../shared/branches/schemas.ts';
import { branchesToSync } from '../../shared/branches/sync.ts';
import { ConditionFailedError, NotFoundError, ValidationError } from '../../shared/errors/errors.ts';
import { KINDS, keys } from '../../shared/store/keys.ts';
import { MemoryStore } from '../../shared/store/memory/memory-store.ts';
import type { Attrs, Key, Store, UpdateOptions } from '../../shared/store/store.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
const ALICE = 'developer:alice';
const BOB = 'developer:bob';

async function readyBranch(store: Store, id: string, owner = ALICE, now = T0) {
  const { branch } = await createBranch(store, owner, { database: 'orders', id }, now);
  await markPending(store, id, now);
  await applyStatus(store, { id, phase: 'ready' }, now);
  return branch;
}

describe('CreateBranchSchema', () => {
  it.each([
    [{ database: 'orders' }, true],
    [{ database: 'orders', id: 'feature-1', ttlSecs: 60, mode: 'schema' }, true],
    [{ database: 'orders', ttlSecs: 7 * 24 * 3600 }, true],
    [{ database: 'orders', ttlSecs: 59 }, false],
    [{ database: 'orders', ttlSecs: 7 * 24 * 3600 + 1 }, false],
    [{ database: 'orders', id: 'Feature' }, false],
    [{ database: 'orders', id: 'a_b' }, false],
    [{ database: 'orders', id: 'x'.repeat(41) }, false],
    [{ database: 'orders', mode: 'data' }, false],
    [{ database: 'orders; drop' }, false],
    [{ database: 'orders', extra: 1 }, false],
    [{}, false],
  ])('%j -> valid %s', (input, valid) => {
    // Act
    const result = CreateBranchSchema.safeParse(input);
    // Assess
    expect(result.success).toBe(valid);
  });

  it('defaults the mode to all', () => {
    expect(CreateBranchSchema.parse({ database: 'orders' }).mode).toBe('all');
  });
});

describe('branch names', () => {
  it.each([
    ['a', 'sy_branch_a'],
    ['feature-login-2', 'sy_branch_feature_login_2'],
    ['x'.repeat(40), `sy_branch_${'x'.repeat(40)}`],
  ])('%s -> %s', (id, name) => {
    expect(branchDatabaseName(id)).toBe(name);
    expect(name.length).toBeLessThanOrEqual(63);
    expect(isBranchDatabaseName(name)).toBe(true);
  });

  it.each([
    'postgres',
    'orders',
    'sy_branch_',
    'sy_branch_A',
    'sy_branch_a;drop',
    `sy_branch_${'a'.repeat(54)}`,
  ])('rejects %s as a branch database name', (name) => {
    expect(isBranchDatabaseName(name)).toBe(false);
  });

  it('refuses to derive a name from an invalid id', () => {
    expect(() => branchDatabaseName('a"b')).toThrow();
  });

  it('generates valid, distinct ids', () => {
    const ids = new Set(Array.from({ length: 200 }, newBranchId));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(CreateBranchSchema.safeParse({ database: 'd', id }).success).toBe(true);
  });
});

describe('createBranch', () => {
  it('writes the branch in phase init before anything else, with its fields', async () => {
    // Prepare
    const store = new MemoryStore();
    // Act
    const { branch, created } = await createBranch(store, ALICE, { database: 'orders', id: 'feat-1' }, T0);
    // Assess
    expect(created).toBe(true);
    expect(branch).toMatchObject({
      id: 'feat-1',
      database: 'orders',
      name: 'sy_branch_feat_1',
      mode: 'all',
      phase: 'init',
      owner: ALICE,
      expireTime: new Date(T0 + DEFAULT_TTL_SECS * 1000).toISOString(),
      createdAt: new Date(T0).toISOString(),
      version: 1,
    });
    const item = await store.get(keys.branch('feat-1'));
    expect(item?.kind).toBe(KINDS.branch);
    expect(item?.phase).toBe('init');
  });

  it('generates an id when none is given', async () => {
    const store = new MemoryStore();
    const { branch } = await createBranch(store, ALICE, { database: 'orders' }, T0);
    expect(branch.id).toMatch(/^[a-z0-9]{12}$/);
    expect(branch.name).toBe(`sy_branch_${branch.id}`);
  });

  it('rejects an invalid request with a ValidationError naming the field', async () => {
    const store = new MemoryStore();
    const err = await createBranch(store, ALICE, { database: 'orders', ttlSecs: 5 }, T0).catch((e) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toContain('ttlSecs');
    expect(await store.listByKind(KINDS.branch)).toHaveLength(0);
  });

  it('reuses a live branch of the same owner and database and extends its TTL', async () => {
    // Prepare
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    // Act
    const { branch, created } = await createBranch(
      store,
      ALICE,
      { database: 'orders', id: 'feat', ttlSecs: 7200 },
      T0 + 1000,
    );
    // Assess
    expect(created).toBe(false);
    expect(branch.phase).toBe('ready');
    expect(branch.expireTime).toBe(new Date(T0 + 1000 + 7200 * 1000).toISOString());
  });

  it('never shortens the TTL of a reused branch', async () => {
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'feat', ttlSecs: 7200 }, T0);
    const { branch } = await createBranch(
      store,
      ALICE,
      { database: 'orders', id: 'feat', ttlSecs: 60 },
      T0 + 1,
    );
    expect(branch.expireTime).toBe(new Date(T0 + 7200 * 1000).toISOString());
    expect(branch.version).toBe(1);
  });

  it('refuses an id owned by another developer, without touching it', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat', ALICE);
    const err = await createBranch(store, BOB, { database: 'orders', id: 'feat' }, T0).catch((e) => e);
    expect(err).toBeInstanceOf(BranchIdTakenError);
    expect(err.code).toBe('branch_id_taken');
    expect(err.httpStatus).toBe(409);
    expect(err.message).toMatch(/another developer/);
    expect((await loadBranch(store, 'feat', T0))?.owner).toBe(ALICE);
  });

  it('refuses a live id of the same owner for another database', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    const err = await createBranch(store, ALICE, { database: 'billing', id: 'feat' }, T0).catch((e) => e);
    expect(err).toBeInstanceOf(BranchIdTakenError);
    expect(err.message).toContain("for database 'orders'");
  });

  it.each([
    ['failed', async (s: Store) => applyStatus(s, { id: 'feat', phase: 'failed' }, T0)],
    ['expired', async () => undefined],
  ])('replaces a %s branch by a new incarnation', async (what, act) => {
    // Prepare
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'feat', ttlSecs: 60 }, T0);
    await markPending(store, 'feat', T0);
    await act(store);
    const before = await loadBranch(store, 'feat', T0);
    const later = what === 'expired' ? T0 + 61_000 : T0 + 1;
    // Act
    const { branch, created } = await createBranch(store, ALICE, { database: 'billing', id: 'feat' }, later);
    // Assess
    expect(created).toBe(true);
    expect(branch.phase).toBe('init');
    expect(branch.database).toBe('billing');
    expect(branch.error).toBeUndefined();
    const after = await loadBranch(store, 'feat', later);
    expect(after?.generation).not.toBe(before?.generation);
  });

  it('refuses an id whose drop is under way', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    await requestDelete(store, ALICE, 'feat', T0);
    const err = await createBranch(store, ALICE, { database: 'orders', id: 'feat' }, T0).catch((e) => e);
    expect(err).toBeInstanceOf(BranchDeletingError);
    expect(err.code).toBe('branch_deleting');
  });

  it('lets two concurrent creates of one id end with one branch', async () => {
    const store = new MemoryStore();
    const results = await Promise.all(
      Array.from({ length: 5 }, () => createBranch(store, ALICE, { database: 'orders', id: 'race' }, T0)),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.branch.name))).toEqual(new Set(['sy_branch_race']));
    expect(await store.listByKind(KINDS.branch)).toHaveLength(1);
  });

  it('takes over the id of a tombstone past its retention, even for another developer', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat', ALICE);
    await requestDelete(store, ALICE, 'feat', T0);
    await applyStatus(store, { id: 'feat', phase: 'deleted' }, T0);
    const later = T0 + TOMBSTONE_MS + 1;
    const { branch, created } = await createBranch(store, BOB, { database: 'orders', id: 'feat' }, later);
    expect(created).toBe(true);
    expect(branch.owner).toBe(BOB);
  });
});

describe('reading and deleting', () => {
  it('shows a branch only to its owner', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat', ALICE);
    await expect(getBranch(store, ALICE, 'feat', T0)).resolves.toMatchObject({ id: 'feat', phase: 'ready' });
    await expect(getBranch(store, BOB, 'feat', T0)).rejects.toBeInstanceOf(NotFoundError);
    await expect(getBranch(store, ALICE, 'nope', T0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("lists the owner's branches only, without deleted ones unless asked", async () => {
    // Prepare
    const store = new MemoryStore();
    await readyBranch(store, 'a1', ALICE, T0);
    await readyBranch(store, 'a2', ALICE, T0 + 1);
    await readyBranch(store, 'b1', BOB, T0);
    await requestDelete(store, ALICE, 'a2', T0 + 2);
    await applyStatus(store, { id: 'a2', phase: 'deleted' }, T0 + 3);
    // Act
    const visible = await listBranches(store, ALICE, { now: T0 + 4 });
    const all = await listBranches(store, ALICE, { now: T0 + 4, includeDeleted: true });
    // Assess
    expect(visible.map((b) => b.id)).toEqual(['a1']);
    expect(all.map((b) => [b.id, b.phase])).toEqual([
      ['a1', 'ready'],
      ['a2', 'deleted'],
    ]);
  });

  it('requestDelete marks deleting, is idempotent, and hides other owners', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    await expect(requestDelete(store, BOB, 'feat', T0)).rejects.toBeInstanceOf(NotFoundError);
    const first = await requestDelete(store, ALICE, 'feat', T0);
    const second = await requestDelete(store, ALICE, 'feat', T0 + 1);
    expect(first.phase).toBe('deleting');
    expect(second.version).toBe(first.version);
    await expect(requestDelete(store, ALICE, 'missing', T0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('keeps a deleted branch as a tombstone for a while, then reports it not found', async () => {
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    await requestDelete(store, ALICE, 'feat', T0);
    await applyStatus(store, { id: 'feat', phase: 'deleted' }, T0);
    expect((await getBranch(store, ALICE, 'feat', T0 + 1)).phase).toBe('deleted');
    await expect(getBranch(store, ALICE, 'feat', T0 + TOMBSTONE_MS + 1)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe('applyStatus', () => {
  type Setup = 'init' | 'pending' | 'ready' | 'failed' | 'deleting';
  async function inPhase(store: Store, phase: Setup) {
    await createBranch(store, ALICE, { database: 'orders', id: 'feat' }, T0);
    if (phase === 'init') return;
    await markPending(store, 'feat', T0);
    if (phase === 'ready' || phase === 'deleting')
      await applyStatus(store, { id: 'feat', phase: 'ready' }, T0);
    if (phase === 'failed') await applyStatus(store, { id: 'feat', phase: 'failed' }, T0);
    if (phase === 'deleting') await requestDelete(store, ALICE, 'feat', T0);
  }

  it.each<[Setup, 'pending' | 'ready' | 'failed' | 'deleted', string, boolean]>([
    ['init', 'pending', 'pending', true],
    ['init', 'ready', 'ready', true],
    ['pending', 'pending', 'pending', true],
    ['pending', 'ready', 'ready', true],
    ['pending', 'failed', 'failed', true],
    ['ready', 'pending', 'ready', false],
    ['ready', 'failed', 'ready', false],
    ['failed', 'pending', 'failed', false],
    ['failed', 'ready', 'failed', false],
    ['ready', 'deleted', 'ready', false],
    ['deleting', 'ready', 'deleting', false],
    ['deleting', 'deleted', 'deleted', true],
  ])('%s + report %s -> %s (applied %s)', async (from, reported, expected, applied) => {
    // Prepare
    const store = new MemoryStore();
    await inPhase(store, from);
    // Act
    const result = await applyStatus(store, { id: 'feat', phase: reported }, T0 + 5);
    // Assess
    expect(result.applied).toBe(applied);
    expect((await loadBranch(store, 'feat', T0 + 5))?.phase).toBe(expected);
  });

  it('copies progress and the error in words', async () => {
    const store = new MemoryStore();
    await inPhase(store, 'pending');
    await applyStatus(
      store,
      {
        id: 'feat',
        phase: 'pending',
        progress: { percent: 40, tablesDone: 2, tablesTotal: 5, rowsCopied: 900 },
      },
      T0 + 1,
    );
    expect((await getBranch(store, ALICE, 'feat', T0 + 1)).progress).toEqual({
      percent: 40,
      tablesDone: 2,
      tablesTotal: 5,
      rowsCopied: 900,
    });
    const message = "source database 'orders' does not exist on 127.0.0.1:5432";
    await applyStatus(
      store,
      { id: 'feat', phase: 'failed', error: { code: 'source_not_found', message } },
      T0 + 2,
    );
    expect((await getBranch(store, ALICE, 'feat', T0 + 2)).error).toEqual({
      code: 'source_not_found',
      message,
    });
  });

  it('ignores progress that goes backwards (reports can arrive out of order)', async () => {
    const store = new MemoryStore();
    await inPhase(store, 'pending');
    await applyStatus(store, { id: 'feat', phase: 'pending', progress: { percent: 60 } }, T0 + 1);
    const late = await applyStatus(
      store,
      { id: 'feat', phase: 'pending', progress: { percent: 30 } },
      T0 + 2,
    );
    expect(late.applied).toBe(false);
    expect((await getBranch(store, ALICE, 'feat', T0 + 2)).progress?.percent).toBe(60);
  });

  it('records why a drop failed, keeping the branch deleting so the drop is sent again', async () => {
    const store = new MemoryStore();
    await inPhase(store, 'deleting');
    const error = {
      code: 'branch_permission',
      message: "dropping database 'sy_branch_feat': permission denied",
    };
    const result = await applyStatus(store, { id: 'feat', phase: 'failed', error }, T0 + 1);
    expect(result.applied).toBe(true);
    expect(await getBranch(store, ALICE, 'feat', T0 + 1)).toMatchObject({ phase: 'deleting', error });
    await applyStatus(store, { id: 'feat', phase: 'deleted' }, T0 + 2);
    const gone = await getBranch(store, ALICE, 'feat', T0 + 2);
    expect(gone.phase).toBe('deleted');
    expect(gone.error).toBeUndefined();
  });

  it('ignores a report of another generation of the same id', async () => {
    const store = new MemoryStore();
    await inPhase(store, 'pending');
    const result = await applyStatus(store, { id: 'feat', phase: 'ready', generation: 'older' }, T0 + 1);
    expect(result.applied).toBe(false);
    const b = await loadBranch(store, 'feat', T0 + 1);
    expect(b?.phase).toBe('pending');
    const ok = await applyStatus(store, { id: 'feat', phase: 'ready', generation: b?.generation }, T0 + 1);
    expect(ok.applied).toBe(true);
  });

  it('ignores reports for unknown branches and rejects malformed ones', async () => {
    const store = new MemoryStore();
    await expect(applyStatus(store, { id: 'ghost', phase: 'ready' }, T0)).resolves.toEqual({
      applied: false,
    });
    await expect(applyStatus(store, { id: 'feat', phase: 'bogus' }, T0)).rejects.toBeInstanceOf(
      ValidationError,
    );
  });
});

describe('extendTtl and expiry', () => {
  it('pushes live branches out, never back, and skips the rest', async () => {
    // Prepare
    const store = new MemoryStore();
    await readyBranch(store, 'live');
    await createBranch(store, ALICE, { database: 'orders', id: 'far', ttlSecs: 7 * 24 * 3600 }, T0);
    await createBranch(store, ALICE, { database: 'orders', id: 'broken' }, T0);
    await applyStatus(store, { id: 'broken', phase: 'failed' }, T0);
    await readyBranch(store, 'bobs', BOB);
    const until = T0 + 2 * 3600 * 1000;
    // Act
    const result = await extendTtl(store, ['live', 'far', 'broken', 'bobs', 'missing'], until, {
      owner: ALICE,
      now: T0,
    });
    // Assess
    expect(result.extended.sort()).toEqual(['far', 'live']);
    expect(result.skipped.sort()).toEqual(['bobs', 'broken', 'missing']);
    expect((await loadBranch(store, 'live', T0))?.expireAt).toBe(until);
    expect((await loadBranch(store, 'far', T0))?.expireAt).toBe(T0 + 7 * 24 * 3600 * 1000);
    expect((await loadBranch(store, 'bobs', T0))?.expireAt).toBe(T0 + DEFAULT_TTL_SECS * 1000);
  });

  it('lists expired branches, including failed ones (their half-made database must go)', async () => {
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'short', ttlSecs: 60 }, T0);
    await createBranch(store, ALICE, { database: 'orders', id: 'short-failed', ttlSecs: 60 }, T0);
    await applyStatus(store, { id: 'short-failed', phase: 'failed' }, T0);
    await createBranch(store, ALICE, { database: 'orders', id: 'long', ttlSecs: 600 }, T0);
    const expired = await expiredBranches(store, T0 + 61_000);
    expect(expired.map((b) => b.id).sort()).toEqual(['short', 'short-failed']);
  });
});

describe('branchesToSync', () => {
  it('sends init branches, re-sends pending ones only when due, and skips finished ones', async () => {
    // Prepare
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'new' }, T0);
    await createBranch(store, ALICE, { database: 'orders', id: 'sent', mode: 'schema' }, T0);
    await markPending(store, 'sent', T0);
    await readyBranch(store, 'done');
    // Act
    const throttled = await branchesToSync(store, T0 + 1000, { resendAfterMs: 30_000 });
    const reconnect = await branchesToSync(store, T0 + 1000);
    // Assess
    expect(throttled.create.map((s) => s.id)).toEqual(['new']);
    expect(reconnect.create.map((s) => s.id).sort()).toEqual(['new', 'sent']);
    expect(reconnect.drop).toEqual([]);
    const sent = reconnect.create.find((s) => s.id === 'sent');
    expect(BranchSpecSchema.parse(sent)).toMatchObject({
      database: 'orders',
      name: 'sy_branch_sent',
      mode: 'schema',
    });
  });

  it('does not re-send a create whose progress keeps coming, and re-sends it once silent', async () => {
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'busy' }, T0);
    await markPending(store, 'busy', T0);
    await applyStatus(store, { id: 'busy', phase: 'pending', progress: { percent: 10 } }, T0 + 25_000);
    expect((await branchesToSync(store, T0 + 40_000, { resendAfterMs: 30_000 })).create).toEqual([]);
    expect(
      (await branchesToSync(store, T0 + 56_000, { resendAfterMs: 30_000 })).create.map((s) => s.id),
    ).toEqual(['busy']);
  });

  it('marks expired branches deleting before listing their drop, so a same-id create waits', async () => {
    // Prepare
    const store = new MemoryStore();
    await createBranch(store, ALICE, { database: 'orders', id: 'old', ttlSecs: 60 }, T0);
    await markPending(store, 'old', T0);
    await applyStatus(store, { id: 'old', phase: 'ready' }, T0);
    const later = T0 + 61_000;
    // Act
    const sync = await branchesToSync(store, later);
    // Assess
    expect(sync.drop).toEqual([
      { id: 'old', database: 'orders', name: 'sy_branch_old', generation: expect.any(String) },
    ]);
    expect(sync.create).toEqual([]);
    const b = await loadBranch(store, 'old', later);
    expect(b?.phase).toBe('deleting');
    expect(b?.deleteReason).toBe('expired');
    await expect(createBranch(store, ALICE, { database: 'orders', id: 'old' }, later)).rejects.toBeInstanceOf(
      BranchDeletingError,
    );
  });

  it('walks a branch through its whole life', async () => {
    const store = new MemoryStore();
    // create -> sent -> ready
    await createBranch(store, ALICE, { database: 'orders', id: 'life' }, T0);
    const first = await branchesToSync(store, T0);
    expect(first.create.map((s) => s.id)).toEqual(['life']);
    await markPending(store, 'life', T0);
    const spec = first.create[0]!;
    await applyStatus(store, { id: 'life', phase: 'ready', generation: spec.generation }, T0 + 1);
    expect(await branchesToSync(store, T0 + 2)).toEqual({ create: [], drop: [] });
    // delete -> drop sent (throttled) -> deleted
    await requestDelete(store, ALICE, 'life', T0 + 3);
    const second = await branchesToSync(store, T0 + 4, { resendAfterMs: 10_000 });
    expect(second.drop.map((d) => d.id)).toEqual(['life']);
    await markDropSent(store, 'life', T0 + 4);
    expect((await branchesToSync(store, T0 + 5, { resendAfterMs: 10_000 })).drop).toEqual([]);
    expect((await branchesToSync(store, T0 + 20_000, { resendAfterMs: 10_000 })).drop).toHaveLength(1);
    await applyStatus(store, { id: 'life', phase: 'deleted' }, T0 + 6);
    expect(await branchesToSync(store, T0 + 30_000)).toEqual({ create: [], drop: [] });
  });

  it('decides on a fresh read, not on the eventually consistent listing', async () => {
    // Prepare: a listing that still shows the branch deleting while it was re-created meanwhile.
    const store = new MemoryStore();
    await readyBranch(store, 'feat');
    await requestDelete(store, ALICE, 'feat', T0);
    const staleListing = await store.listByKind(KINDS.branch);
    await applyStatus(store, { id: 'feat', phase: 'deleted' }, T0);
    await createBranch(store, ALICE, { database: 'orders', id: 'feat' }, T0 + 1);
    const lagging: Store = Object.assign(Object.create(store) as Store, {
      listByKind: async () => structuredClone(staleListing),
    });
    // Act
    const sync = await branchesToSync(lagging, T0 + 2);
    // Assess
    expect(sync.drop).toEqual([]);
    expect(sync.create.map((s) => s.id)).toEqual(['feat']);
  });

  it('report schemas accept what the connector sends', () => {
    expect(
      BranchStatusReportSchema.safeParse({ id: 'x', phase: 'failed', error: { code: 'c', message: 'm' } })
        .success,
    ).toBe(true);
    expect(BranchStatusReportSchema.safeParse({ id: 'x', phase: 'init' }).success).toBe(false);
  });
});

describe('conditional writes', () => {
  /** A store whose next N updates lose their race to a concurrent writer. */
  class RacingStore extends MemoryStore {
    constructor(private losses: number) {
      super();
    }
    override async update(key: Key, set: Attrs, opts?: UpdateOptions) {
      if (this.losses > 0 && opts?.conditions?.some((c) => c.type === 'version')) {
        this.losses--;
        await super.update(key, { touchedBy: 'someone else' });
      }
      return super.update(key, set, opts);
    }
  }

  it('retries a lost race from a fresh read and keeps the other writer’s change', async () => {
    const store = new RacingStore(0);
    await createBranch(store, ALICE, { database: 'orders', id: 'feat' }, T0);
    (store as unknown as { losses: number }).losses = 2;
    const b = await markPending(store, 'feat', T0);
    expect(b?.phase).toBe('pending');
    expect((await store.get(keys.branch('feat')))?.touchedBy).toBe('someone else');
  });

  it('gives up with a ConditionFailedError when it never wins', async () => {
    const store = new RacingStore(0);
    await createBranch(store, ALICE, { database: 'orders', id: 'feat' }, T0);
    (store as unknown as { losses: number }).losses = 1000;
    await expect(markPending(store, 'feat', T0)).rejects.toBeInstanceOf(ConditionFailedError);
  });
});
