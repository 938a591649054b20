import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Ledger } from './ledger.ts';
import { type ChaosSystem, CLUSTERS, CONSUMER_VISIBILITY_SECONDS } from './system.ts';

/** Attribute values the sessions' filters are written against (chaos model FILTERS). */
export const CUSTOMERS = ['acme', 'globex', 'initech', 'umbrella'] as const;
export const TIERS = ['gold', 'silver'] as const;

/** A small seeded generator (mulberry32), so a run's messages follow from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Messages sent to every cluster's source queue throughout a run, each with a unique `chaosId`
 * attribute; and the deployed consumers, one per cluster, receiving and deleting from its
 * fallback queue. Both are paused while the runtime is down, so a send's outcome is known.
 */
export class Traffic {
  private sending = false;
  private consuming = false;
  private paused = false;
  private readonly loops: Promise<void>[] = [];
  private inFlight: Promise<unknown> = Promise.resolve();
  private n = 0;

  constructor(
    private readonly sys: ChaosSystem,
    private readonly ledger: Ledger,
    private readonly runId: string,
    private readonly random: () => number,
    private readonly everyMs: number,
  ) {}

  start(): void {
    this.sending = true;
    this.consuming = true;
    this.loops.push(this.sendLoop());
    for (const c of CLUSTERS) this.loops.push(this.consumeLoop(c));
  }

  private pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.random() * list.length)]!;
  }

  private async sendLoop(): Promise<void> {
    while (this.sending) {
      if (!this.paused) {
        const send = this.sendOne();
        this.inFlight = send;
        await send;
      }
      await sleep(this.everyMs);
    }
  }

  private async sendOne(): Promise<void> {
    const cluster = this.pick(CLUSTERS);
    const attributes = { customer: this.pick(CUSTOMERS), tier: this.pick(TIERS) };
    const id = `${this.runId}-${++this.n}`;
    const sentAt = Date.now();
    const message = { id, cluster, attributes, sentAt };
    try {
      await this.sys.sqs(cluster).send(
        new SendMessageCommand({
          QueueUrl: this.sys.queueUrl(cluster, 'source'),
          MessageBody: `chaos ${id}`,
          MessageAttributes: {
            chaosId: { DataType: 'String', StringValue: id },
            customer: { DataType: 'String', StringValue: attributes.customer },
            tier: { DataType: 'String', StringValue: attributes.tier },
          },
        }),
      );
      this.ledger.sent.push(message);
    } catch {
      this.ledger.uncertain.push(message);
    }
  }

  private async consumeLoop(cluster: string): Promise<void> {
    while (this.consuming) {
      const sqs = this.sys.sqs(cluster);
      const url = this.sys.queueUrl(cluster, 'fallback');
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
            // A receive whose answer is lost (a timeout on a loaded machine) gives its messages back soon.
            VisibilityTimeout: CONSUMER_VISIBILITY_SECONDS,
          }),
        );
        const at = Date.now();
        const messages = out.Messages ?? [];
        for (const m of messages) {
          const id = m.MessageAttributes?.chaosId?.StringValue;
          if (id) this.ledger.received.push({ id, place: { kind: 'fallback', cluster }, at });
        }
        if (messages.length) {
          await sqs.send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          );
        }
      } catch {
        await sleep(200); // the runtime is restarting
      }
    }
  }

  /** Stops sending; resolves once no send is in flight. */
  async pause(): Promise<void> {
    this.paused = true;
    await this.inFlight;
  }

  resume(): void {
    this.paused = false;
  }

  async stopSending(): Promise<void> {
    this.sending = false;
    await this.inFlight;
  }

  async stop(): Promise<void> {
    this.sending = false;
    this.consuming = false;
    await Promise.all(this.loops);
  }
}
