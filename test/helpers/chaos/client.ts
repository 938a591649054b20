import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { RouterApi } from '../../../cli/router/api-client.ts';
import { SessionConnection, type SessionResource, waitReady } from '../../../cli/session/session-client.ts';
import type { Attributes, Reception } from './ledger.ts';
import { CONSUMER_VISIBILITY_SECONDS } from './system.ts';

const quiet = { step() {}, info() {}, warn() {} };

export interface ClientOptions {
  api: RouterApi;
  sqs: SQSClient;
  queue: string;
  filter: Attributes;
  /** Steal `x-chaos: ^<tag>$` requests of the service `api` too. */
  interceptTag?: string;
  pingEveryMs: number;
  record: (r: Reception) => void;
}

export type Setup = 'wait' | 'abort' | 'abandon';

/**
 * A developer's `switchyard split` (or `intercept --split`) run in this process, built from the
 * CLI's own pieces (its router API client, `waitReady` and `SessionConnection`), with a consumer
 * that receives and deletes every message of the output queue like `split --print`. Heartbeats
 * are sent faster than the CLI's 20 s so a short session timeout can be tested; the ways a
 * client goes away are the ones a laptop has: Ctrl-C (DELETE), killed (the socket drops, never
 * comes back), or silent (the socket stays, nothing more is sent).
 */
export class ChaosClient {
  session?: SessionResource;
  conn?: SessionConnection;
  private pinger?: NodeJS.Timeout;
  private consuming = false;
  private consumer?: Promise<void>;
  private silenced = false;

  constructor(private readonly o: ClientOptions) {}

  get id(): string | undefined {
    return this.session?.id;
  }

  /**
   * POST /v1/sessions, then as the setup says: wait for ready and connect (a normal start),
   * DELETE at once (Ctrl-C during set-up), or walk away (the CLI killed during set-up).
   */
  async create(setup: Setup): Promise<SessionResource> {
    const { api } = this.o;
    const body = {
      ...(this.o.interceptTag ? { service: 'api' } : {}),
      label: 'chaos',
      splits: [{ queue: this.o.queue, mode: 'steal', filter: this.o.filter }],
    };
    const created = await api.call<SessionResource>('POST', '/v1/sessions', body);
    this.session = created;
    if (setup === 'abort') {
      await api.call('DELETE', `/v1/sessions/${created.id}`);
      return created;
    }
    if (setup === 'abandon') return created;
    this.session = await waitReady(api, created, quiet, 30_000);
    const conn = new SessionConnection(api.target.wsUrl, api.target.token, created.id);
    this.conn = conn;
    // A silent client sends nothing at all, its own 20 s heartbeat included.
    const send = conn.send.bind(conn);
    conn.send = (msg) => !this.silenced && send(msg);
    conn.on('gone', () => this.stopAll());
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      conn.start(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('the session connection did not open in 20 s')), 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    this.pinger = setInterval(() => conn.send({ type: 'ping' }), this.o.pingEveryMs);
    if (this.o.interceptTag) {
      const subscribe = () =>
        conn.subscribe({
          subId: `sub-${this.o.interceptTag}`,
          service: 'api',
          mode: 'steal',
          filter: { headers: { 'x-chaos': `^${this.o.interceptTag}$` } },
        });
      await subscribe();
      // As the CLI's intercept does: subscribe again after each resume.
      conn.on('connected', (again: boolean) => {
        if (again && !this.silenced) subscribe().catch(() => {});
      });
    }
    this.consumer = this.consume(this.session.outputQueues![this.o.queue]!, created.id);
    return this.session;
  }

  private async consume(url: string, sessionId: string): Promise<void> {
    this.consuming = true;
    const { sqs } = this.o;
    while (this.consuming) {
      const out = await sqs
        .send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
            // A receive whose answer is lost (a timeout on a loaded machine) gives its messages back soon.
            VisibilityTimeout: CONSUMER_VISIBILITY_SECONDS,
          }),
        )
        .catch(async (err: Error) => {
          if (err.name.includes('NonExistentQueue') || err.name.includes('QueueDoesNotExist')) {
            this.consuming = false;
          } else await new Promise((r) => setTimeout(r, 200));
          return { Messages: undefined };
        });
      const at = Date.now();
      const messages = out.Messages ?? [];
      for (const m of messages) {
        const id = m.MessageAttributes?.chaosId?.StringValue;
        if (id) this.o.record({ id, place: { kind: 'output', sessionId }, at });
      }
      if (messages.length) {
        await sqs
          .send(
            new DeleteMessageBatchCommand({
              QueueUrl: url,
              Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
            }),
          )
          .catch(() => {});
      }
    }
  }

  private stopAll(): void {
    clearInterval(this.pinger);
    this.consuming = false;
  }

  /** Ctrl-C: the CLI closes its connection and deletes the session. */
  async delete(): Promise<void> {
    this.stopAll();
    this.conn?.stop();
    await this.consumer;
    if (this.session) await this.o.api.call('DELETE', `/v1/sessions/${this.session.id}`);
  }

  /** Killed (kill -9, a lost network): the socket drops without a close frame and never comes back. */
  async kill(): Promise<void> {
    this.stopAll();
    this.conn?.peer.socket.drop();
    this.conn?.stop();
    await this.consumer;
  }

  /** A closed laptop: the socket stays open, nothing is sent or consumed any more. */
  async silence(): Promise<void> {
    this.silenced = true;
    this.stopAll();
    await this.consumer;
  }

  /** Test teardown only. */
  close(): void {
    this.stopAll();
    this.conn?.stop();
  }
}
