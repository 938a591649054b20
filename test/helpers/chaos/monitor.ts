import { GetQueueAttributesCommand, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { outputQueuePrefix } from '../../../shared/split/model.ts';
import { KINDS } from '../../../shared/store/keys.ts';
import type { Attributes, Ledger, SessionRecord } from './ledger.ts';
import type { ChaosSystem } from './system.ts';

const PREFIX = outputQueuePrefix('local');

export interface Look {
  /** Sessions of this run not closed yet. */
  open: string[];
  registrations: string[];
  liveSplits: string[];
  /** Splits ended but not retired yet (their output queue may still hold messages). */
  draining: string[];
  /** URLs. */
  outputQueues: string[];
  subscriptions: string[];
}

/**
 * Looks at the system from outside, every few hundred milliseconds: the sessions, split
 * registrations and split statuses in the table, the output queues in SQS, and which session
 * each connector would steal an intercepted request for. Records when each session's resources
 * were last seen, for the oracle's bounds.
 */
export class Monitor {
  private running = false;
  /** When each connector was first seen connected (again). */
  private readonly connectedSince = new Map<object, number>();
  private loop?: Promise<void>;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly ledger: Ledger,
    /** Sessions created before this belong to earlier runs. */
    private readonly since: number,
    private readonly everyMs = 400,
  ) {}

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await this.look().catch(() => undefined); // the runtime is restarting
        await new Promise((r) => setTimeout(r, this.everyMs));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private record(id: string): SessionRecord | undefined {
    return this.ledger.sessions.get(id);
  }

  /** One look; updates the ledger and says what is still there. */
  async look(): Promise<Look> {
    const t = Date.now();
    const db = this.sys.db;
    const result: Look = {
      open: [],
      registrations: [],
      liveSplits: [],
      draining: [],
      outputQueues: [],
      subscriptions: [],
    };
    for (const item of await db.listByKind(KINDS.session)) {
      const createdAt = item.createdAt as number;
      if (createdAt < this.since) continue;
      const id = item.id as string;
      let rec = this.record(id);
      if (!rec) {
        rec = { id, createdAt, lastSeen: {} };
        this.ledger.sessions.set(id, rec);
      }
      // The store is the truth for both, whoever made the record first.
      rec.createdAt = createdAt;
      const split = (item.splits as { filter?: Attributes }[] | undefined)?.[0];
      if (split?.filter) rec.filter = split.filter;
      if (item.state === 'closed') {
        rec.closedAt ??= item.closedAt as number;
        rec.closedReason ??= item.closedReason as string;
      } else result.open.push(id);
    }
    for (const item of await db.listByKind(KINDS.queueSplit)) {
      const rec = this.record(item.sessionId as string);
      if (!rec) continue;
      rec.lastSeen.registration = t;
      result.registrations.push(rec.id);
    }
    for (const item of await db.listByKind(KINDS.sessionSplit)) {
      const rec = this.record(item.sessionId as string);
      if (!rec) continue;
      if (typeof item.endedAt === 'number') rec.splitEndedAt = item.endedAt;
      rec.counters = Object.fromEntries(
        ['matched', 'lost', 'returned', 'discarded', 'abandoned']
          .filter((k) => typeof item[k] === 'number')
          .map((k) => [k, item[k] as number]),
      );
      if (item.status)
        rec.counters.status = ['registering', 'active', 'draining', 'retired'].indexOf(item.status as string);
      if (item.status === 'registering' || item.status === 'active') {
        rec.lastSeen.liveSplit = t;
        result.liveSplits.push(rec.id);
      } else if (item.status === 'draining') result.draining.push(rec.id);
    }
    const queues = await this.sys.sqs('east').send(new ListQueuesCommand({ QueueNamePrefix: PREFIX }));
    for (const url of queues.QueueUrls ?? []) {
      const name = url.slice(url.lastIndexOf('/') + 1);
      const id = name.slice(PREFIX.length).replace(/-orders$/, '');
      const rec = this.record(id);
      if (!rec) continue;
      rec.lastSeen.outputQueue = t;
      result.outputQueues.push(url);
    }
    for (const c of this.sys.clusters.values()) {
      if (!c.connector?.peer.connected) {
        if (c.connector) this.connectedSince.delete(c.connector);
      } else if (!this.connectedSince.has(c.connector)) this.connectedSince.set(c.connector, t);
    }
    for (const rec of this.ledger.sessions.values()) {
      if (!rec.interceptTag) continue;
      for (const c of this.sys.clusters.values()) {
        // A connector away from the router routes nothing to any session (a stolen request goes
        // to its upstream at once), and only hears a child's close once it is back.
        if (!c.connector?.peer.connected) continue;
        const since = this.connectedSince.get(c.connector) ?? t;
        const routed = c.connector.match('api', {
          method: 'GET',
          path: '/',
          headers: { 'x-chaos': rec.interceptTag },
        });
        if (routed?.steal?.sessionId === rec.id) {
          rec.lastSeen.subscription = t;
          rec.subscriptionHeldSince = Math.max(rec.subscriptionHeldSince ?? 0, since);
          result.subscriptions.push(`${rec.id} on ${c.id}`);
        }
      }
    }
    return result;
  }

  /** How many messages a leftover output queue holds (for the report). */
  async messagesIn(url: string): Promise<number> {
    try {
      const out = await this.sys.sqs('east').send(
        new GetQueueAttributesCommand({
          QueueUrl: url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      );
      return (
        Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
        Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
      );
    } catch {
      return -1;
    }
  }
}
