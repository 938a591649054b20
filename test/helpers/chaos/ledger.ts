/**
 * What a chaos run observed of the real system, from the outside: the messages it sent, where
 * each one was received, the sessions as the store recorded them, when each session's
 * registration, output queue and subscription were last seen, and when the router was down or
 * lost a worker. The oracle (oracle.ts) judges a run from this alone.
 */

export type Attributes = Record<string, string>;

export interface SentMessage {
  id: string;
  /** The cluster whose source queue it was sent to. */
  cluster: string;
  attributes: Attributes;
  /** Taken before the send call: the splitter cannot have seen it earlier. */
  sentAt: number;
}

export type Place = { kind: 'output'; sessionId: string } | { kind: 'fallback'; cluster: string };

export interface Reception {
  id: string;
  place: Place;
  /** Taken when the receive call returned. */
  at: number;
}

/** One session as the store and the run saw it. */
export interface SessionRecord {
  id: string;
  /** The split filter it was created with (from the store). */
  filter?: Attributes;
  /** The header value its intercept steals (`x-chaos: <tag>`), when it has one. */
  interceptTag?: string;
  /** The store's creation time (written before its split was registered). */
  createdAt: number;
  /** When the create call returned: its registration existed by then. */
  registeredBy?: number;
  /** The split's end (draining) time from the store: its registration was removed by then. */
  splitEndedAt?: number;
  closedAt?: number;
  closedReason?: string;
  /**
   * When the run stopped keeping it alive (DELETE sent, client silenced or killed, creation
   * abandoned): nothing the run did could end it earlier.
   */
  letGoAt?: number;
  /** How: an expiry is expected to end it within the bound, a DELETE at once. */
  letGoBy?: 'delete' | 'silence' | 'kill' | 'abandon';
  lastSeen: { registration?: number; outputQueue?: number; subscription?: number; liveSplit?: number };
  /**
   * Since when the connector last seen holding its subscription had been connected: one that came
   * back after the session closed hears the close only then, so its bound starts there.
   */
  subscriptionHeldSince?: number;
  /** The split status's counters at the last look (matched, returned, abandoned, ...), for reports. */
  counters?: Record<string, number>;
}

export interface Interval {
  from: number;
  to: number;
}

export interface Ledger {
  sent: SentMessage[];
  /** Sends whose outcome is unknown (the call failed): not counted as lost when never received. */
  uncertain: SentMessage[];
  received: Reception[];
  sessions: Map<string, SessionRecord>;
  /** The whole router stopped (runtime stop and start). */
  downtimes: Interval[];
  /** Times a router worker that held the reconciler lease was killed. */
  leaseKills: number[];
  /** What the final look found still there. */
  leftovers: {
    sessionsNotClosed: string[];
    registrations: string[];
    liveSplits: string[];
    outputQueues: { name: string; messages: number }[];
    subscriptions: string[];
  };
}

export function emptyLedger(): Ledger {
  return {
    sent: [],
    uncertain: [],
    received: [],
    sessions: new Map(),
    downtimes: [],
    leaseKills: [],
    leftovers: {
      sessionsNotClosed: [],
      registrations: [],
      liveSplits: [],
      outputQueues: [],
      subscriptions: [],
    },
  };
}
