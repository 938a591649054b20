import { describe, expect, it } from 'vitest';
import { emptyLedger, type Ledger, type SessionRecord } from './ledger.ts';
import { type Bounds, judge, matches } from './oracle.ts';

const B: Bounds = {
  leaseMs: 2_000,
  reconcileEveryMs: 300,
  splitCacheMs: 300,
  sessionTimeoutMs: 8_000,
  drainTimeoutMs: 0,
  sendGraceMs: 3_000,
  slackMs: 1_000,
};
const ACME = { customer: 'acme', tier: 'gold' };

function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return { id, filter: { customer: '^acme$' }, createdAt: 1_000, registeredBy: 1_100, lastSeen: {}, ...over };
}

/** One acme message sent to east at 10 s, and the sessions given. */
function ledger(sessions: SessionRecord[] = []): Ledger {
  const l = emptyLedger();
  l.sent.push({ id: 'm1', cluster: 'east', attributes: ACME, sentAt: 10_000 });
  for (const s of sessions) l.sessions.set(s.id, s);
  return l;
}

const fallback = (cluster: string, at = 12_000) => ({
  id: 'm1',
  place: { kind: 'fallback' as const, cluster },
  at,
});
const output = (sessionId: string, at = 12_000) => ({
  id: 'm1',
  place: { kind: 'output' as const, sessionId },
  at,
});

describe('the chaos oracle', () => {
  it('matches a filter only when every attribute is present and matches', () => {
    expect(matches({ customer: '^acme$' }, ACME)).toBe(true);
    expect(matches({ customer: '^acme$', region: '.*' }, ACME)).toBe(false);
    expect(matches({}, ACME)).toBe(false);
    expect(matches(undefined, ACME)).toBe(false);
  });

  it.each([
    ['received once from its own fallback, no session', [], [fallback('east')], []],
    ['received from the output queue of a matching live session', [session('a')], [output('a')], []],
    [
      'given back to the fallback by a session that ended before the receipt',
      [session('a', { letGoAt: 11_000, closedAt: 11_000, splitEndedAt: 11_000 })],
      [fallback('east')],
      [],
    ],
    ['never received', [], [], ['was never received']],
    ['received from another cluster’s fallback', [], [fallback('west')], ['reached the fallback of west']],
    [
      'out of a session whose filter does not match',
      [session('a', { filter: { customer: '^globex$' } })],
      [output('a')],
      ['does not match'],
    ],
    [
      'out of a session that ended before it was sent',
      [session('a', { closedAt: 5_000, splitEndedAt: 5_000 })],
      [output('a')],
      ['outside its life'],
    ],
    [
      'taken by a later session while an earlier one was registered',
      [session('a'), session('b', { createdAt: 2_000, registeredBy: 2_100 })],
      [output('b')],
      ['although the earlier session a'],
    ],
    [
      'at the fallback while a matching session was registered and none had ended',
      [session('a')],
      [fallback('east')],
      ['while session a was registered'],
    ],
  ] as const)('%s', (_name, sessions, received, expected) => {
    const l = ledger(sessions.map((s) => ({ ...s, lastSeen: { ...s.lastSeen } })));
    l.received.push(...received);
    const report = judge(l, B);
    expect(report.failures).toHaveLength(expected.length);
    expected.forEach((text, i) => {
      expect(report.failures[i]).toContain(text);
    });
  });

  it('counts a message received twice as a duplicate, not a failure', () => {
    const l = ledger();
    l.received.push(fallback('east'), fallback('east', 13_000));
    expect(judge(l, B)).toMatchObject({ sent: 1, received: 2, lost: 0, duplicated: 1, failures: [] });
  });

  it('counts what was left at the end as stranded', () => {
    const l = ledger();
    l.received.push(fallback('east'));
    l.leftovers.registrations.push('a');
    l.leftovers.outputQueues.push({ name: 'switchyard-local_a-orders', messages: 2 });
    const report = judge(l, B);
    expect(report.stranded).toBe(2);
    expect(report.failures).toEqual([
      'registration left: a',
      'output queue left: switchyard-local_a-orders with 2 messages',
    ]);
  });

  it('bounds what outlives a session: one lease period and one reconcile interval, plus any router downtime', () => {
    const release = B.leaseMs + B.reconcileEveryMs + B.slackMs;
    const late = (seen: number, downtimes: { from: number; to: number }[] = []) => {
      const l = ledger([session('a', { closedAt: 20_000, lastSeen: { registration: 20_000 + seen } })]);
      l.received.push(output('a'));
      l.downtimes.push(...downtimes);
      return judge(l, B);
    };
    expect(late(release).failures).toEqual([]);
    expect(late(release + 1).failures[0]).toContain("session a's registration was still there");
    expect(late(release + 1).stranded).toBe(1);
    expect(late(release + 5_000, [{ from: 21_000, to: 26_000 }]).failures).toEqual([]);
  });

  it('starts a subscription’s bound when its connector came back, if that was after the close', () => {
    const seenAt = (heldSince: number) => {
      const l = ledger([
        session('a', {
          closedAt: 20_000,
          subscriptionHeldSince: heldSince,
          lastSeen: { subscription: 28_000 },
        }),
      ]);
      l.received.push(output('a'));
      return judge(l, B).failures;
    };
    expect(seenAt(27_000)).toEqual([]);
    expect(seenAt(10_000)[0]).toContain("session a's subscription was still there 8000 ms");
  });

  it('bounds the expiry of a session whose client went silent', () => {
    const limit = B.sessionTimeoutMs + B.leaseMs + B.reconcileEveryMs + B.slackMs;
    const closed = (after: number) => {
      const l = ledger([session('a', { letGoAt: 15_000, letGoBy: 'silence', closedAt: 15_000 + after })]);
      l.received.push(output('a'));
      return judge(l, B).failures;
    };
    expect(closed(limit)).toEqual([]);
    expect(closed(limit + 1)[0]).toContain('closed');
  });
});
