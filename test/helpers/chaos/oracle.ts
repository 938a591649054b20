import type { Attributes, Interval, Ledger, SentMessage, SessionRecord } from './ledger.ts';

/** The settings the bounds are computed from, plus how much a loaded machine may add. */
export interface Bounds {
  leaseMs: number;
  reconcileEveryMs: number;
  splitCacheMs: number;
  sessionTimeoutMs: number;
  drainTimeoutMs: number;
  /** The retire duty's wait after an end before it may delete an output queue (retire.ts). */
  sendGraceMs: number;
  slackMs: number;
}

export interface ChaosReport {
  sent: number;
  received: number;
  lost: number;
  /** Messages received more than once (at-least-once delivery): reported, not failures. */
  duplicated: number;
  /** Leftovers at the end plus resources seen past their bound. */
  stranded: number;
  failures: string[];
}

/** Independent of the splitter's own filter code: every attribute present, every regex matching. */
export function matches(filter: Attributes | undefined, attributes: Attributes): boolean {
  const entries = Object.entries(filter ?? {});
  return (
    entries.length > 0 &&
    entries.every(([k, re]) => attributes[k] !== undefined && new RegExp(re).test(attributes[k]))
  );
}

function overlap(intervals: Interval[], from: number, to: number): number {
  let sum = 0;
  for (const i of intervals) sum += Math.max(0, Math.min(i.to, to) - Math.max(i.from, from));
  return sum;
}

/** What may delay the duties between two times: router downtime, and one lease period per killed leader. */
function delays(ledger: Ledger, b: Bounds, from: number, to: number): number {
  const kills = ledger.leaseKills.filter((t) => t >= from - b.leaseMs && t <= to).length;
  return overlap(ledger.downtimes, from, to) + kills * b.leaseMs;
}

/**
 * Until when a session's registration certainly existed: nothing the run did could remove it
 * before the run let it go, and nothing else before a router stop (expiry may follow a restart).
 */
function certainUntil(s: SessionRecord, ledger: Ledger): number {
  const after = s.registeredBy ?? Number.POSITIVE_INFINITY;
  const stop = ledger.downtimes.find((d) => d.to >= after)?.from ?? Number.POSITIVE_INFINITY;
  return Math.min(
    s.letGoAt ?? Number.POSITIVE_INFINITY,
    s.closedAt ?? Number.POSITIVE_INFINITY,
    s.splitEndedAt ?? Number.POSITIVE_INFINITY,
    stop,
  );
}

const endOf = (s: SessionRecord): number => s.splitEndedAt ?? s.closedAt ?? Number.POSITIVE_INFINITY;
const earlier = (a: SessionRecord, b: SessionRecord) =>
  a.createdAt < b.createdAt || (a.createdAt === b.createdAt && a.id < b.id);

/**
 * Judges a settled run.
 * - Every message sent is received at least once (lost otherwise), from the fallback of its own
 *   cluster or from the output queue of a session whose filter matches it and whose registration
 *   existed between its send and its receipt (within the splitters' cache staleness).
 * - The earliest-registered matching session wins, and a message a live matching session was
 *   certainly registered for never reaches a fallback while every session that could have taken
 *   it is still on (checked only where the registrations are certain, so timing cannot fake it).
 * - Nothing is left at the end, and no registration, live split, output queue or subscription
 *   outlived its session's end by more than the bound; a session let go ends within the bound.
 */
export function judge(ledger: Ledger, b: Bounds): ChaosReport {
  const failures: string[] = [];
  const byId = new Map<string, SentMessage>();
  for (const m of [...ledger.sent, ...ledger.uncertain]) byId.set(m.id, m);
  const certain = new Set(ledger.sent.map((m) => m.id));
  const copies = new Map<string, number>();
  const sessions = [...ledger.sessions.values()];
  const window = b.splitCacheMs + b.slackMs;

  for (const r of ledger.received) {
    const m = byId.get(r.id);
    if (!m) continue; // an earlier run's message
    copies.set(r.id, (copies.get(r.id) ?? 0) + 1);
    const what = `message ${m.id} (${m.cluster}, ${JSON.stringify(m.attributes)}, sent ${m.sentAt})`;
    const matching = sessions.filter((s) => matches(s.filter, m.attributes));
    // Sessions whose registration certainly covered the whole time the splitter could have routed it.
    const sure = matching.filter(
      (s) =>
        s.registeredBy !== undefined && s.registeredBy <= m.sentAt - window && certainUntil(s, ledger) > r.at,
    );
    if (r.place.kind === 'fallback') {
      if (r.place.cluster !== m.cluster) failures.push(`${what} reached the fallback of ${r.place.cluster}`);
      const first = sure.sort((x, y) => (earlier(x, y) ? -1 : 1))[0];
      // Another session may have taken it and given it back when it ended: only when none of the
      // sessions it could have gone to had ended is a fallback receipt wrong.
      const returnable = matching.some((s) => (first ? !earlier(first, s) : true) && endOf(s) <= r.at);
      if (first && !returnable)
        failures.push(
          `${what} reached the fallback at ${r.at} while session ${first.id} was registered for it`,
        );
      continue;
    }
    const s = ledger.sessions.get(r.place.sessionId);
    if (!s) {
      failures.push(`${what} came out of the output queue of unknown session ${r.place.sessionId}`);
      continue;
    }
    if (!matches(s.filter, m.attributes)) {
      failures.push(
        `${what} came out of session ${s.id}'s output queue, whose filter ${JSON.stringify(s.filter)} does not match`,
      );
    }
    if (r.at < s.createdAt || m.sentAt > endOf(s) + window) {
      failures.push(
        `${what} came out of session ${s.id}'s output queue at ${r.at}, outside its life ${s.createdAt}..${endOf(s)}`,
      );
    }
    const winner = sure.find((t) => t.id !== s.id && earlier(t, s));
    if (winner) {
      failures.push(
        `${what} went to session ${s.id} although the earlier session ${winner.id} was registered for it`,
      );
    }
  }

  let lost = 0;
  for (const id of certain) {
    if (!copies.has(id)) {
      lost++;
      const m = byId.get(id)!;
      const owners = sessions
        .filter((s) => matches(s.filter, m.attributes))
        .map(
          (s) => `${s.id} ${JSON.stringify({ closedAt: s.closedAt, reason: s.closedReason, ...s.counters })}`,
        );
      failures.push(
        `message ${id} (${m.cluster}, ${JSON.stringify(m.attributes)}, sent ${m.sentAt}) was never received; matching sessions: ${owners.join(', ') || 'none'}`,
      );
    }
  }
  const duplicated = [...copies.values()].filter((n) => n > 1).length;

  let stranded = 0;
  const left = ledger.leftovers;
  for (const [what, list] of [
    ['session not closed', left.sessionsNotClosed],
    ['registration left', left.registrations],
    ['split not retired', left.liveSplits],
    ['subscription left', left.subscriptions],
  ] as const) {
    for (const x of list) {
      stranded++;
      failures.push(`${what}: ${x}`);
    }
  }
  for (const q of left.outputQueues) {
    stranded++;
    failures.push(`output queue left: ${q.name} with ${q.messages} messages`);
  }

  const release = b.leaseMs + b.reconcileEveryMs + b.slackMs;
  const retire = release + b.splitCacheMs + b.sendGraceMs + b.drainTimeoutMs;
  for (const s of sessions) {
    if (s.closedAt === undefined) continue;
    const closed = s.closedAt;
    const limits = [
      ['registration', s.lastSeen.registration, release],
      ['live split', s.lastSeen.liveSplit, release],
      ['subscription', s.lastSeen.subscription, release],
      ['output queue', s.lastSeen.outputQueue, retire],
    ] as const;
    for (const [what, seen, bound] of limits) {
      if (seen === undefined) continue;
      const from = what === 'subscription' ? Math.max(closed, s.subscriptionHeldSince ?? 0) : closed;
      const limit = from + bound + delays(ledger, b, from, seen);
      if (seen > limit) {
        stranded++;
        failures.push(
          `session ${s.id}'s ${what} was still there ${seen - closed} ms after it closed (bound ${limit - closed} ms)`,
        );
      }
    }
    if (s.letGoAt !== undefined && s.letGoBy !== 'delete') {
      const limit = s.letGoAt + b.sessionTimeoutMs + release + delays(ledger, b, s.letGoAt, closed);
      if (closed > limit) {
        failures.push(
          `session ${s.id} (${s.letGoBy}) closed ${closed - s.letGoAt} ms after its client went (bound ${limit - s.letGoAt} ms)`,
        );
      }
    }
  }

  return {
    sent: ledger.sent.length,
    received: ledger.received.filter((r) => byId.has(r.id)).length,
    lost,
    duplicated,
    stranded,
    failures,
  };
}
