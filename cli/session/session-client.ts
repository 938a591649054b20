import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Peer } from '../../client-transport/peer.ts';
import type { FatalReason } from '../../client-transport/reconnecting-socket.ts';
import { SwitchyardError } from '../../shared/errors/errors.ts';
import { REPLACED } from '../../shared/protocol/close-codes.ts';
import type { Message } from '../../shared/protocol/messages.ts';
import { OrderedReleaser, type Sequenced } from '../../shared/protocol/ordering.ts';
import { type StreamFrameLike, StreamParts, StreamReorderer } from '../../shared/protocol/stream-order.ts';
import type { RouterApi } from '../router/api-client.ts';
import type { SessionEnding } from './ending.ts';
import { clusterProgressLine, type Progress, type ReplicaView } from './progress.ts';

export interface SessionResource {
  id: string;
  state: 'pending' | 'ready' | 'failed' | 'closed';
  service?: string;
  clusters: Record<string, { state: string; roles: string[]; error?: { code: string; message: string } }>;
  outputQueues?: Record<string, string>;
  branches?: Record<string, string>;
  splits?: unknown[];
  error?: { code: string; message: string };
  closedReason?: string;
  createdAt?: string;
  expiresAt?: string;
}

/** The longest gap between heartbeats: well under API Gateway's 10-minute idle timeout. */
const MAX_HEARTBEAT_MS = 20_000;

/**
 * How often to send heartbeats for a session: a third of the router's session timeout (read off
 * a fresh session as `expiresAt - createdAt`), at most every 20 s, so a router set to a short
 * timeout does not expire a live session between two heartbeats.
 */
export function heartbeatEvery(s: Pick<SessionResource, 'createdAt' | 'expiresAt'>): number {
  const timeout = Date.parse(s.expiresAt ?? '') - Date.parse(s.createdAt ?? '');
  if (!Number.isFinite(timeout) || timeout <= 0) return MAX_HEARTBEAT_MS;
  return Math.max(250, Math.min(MAX_HEARTBEAT_MS, Math.floor(timeout / 3)));
}

type Msg = Record<string, unknown> & { type: string };
type OrderedFrame = Msg & StreamFrameLike;

/** Stateful requests that only read: sending one again after a resume changes nothing. */
const REPEATABLE = new Set(['env.get', 'file.read', 'file.stat', 'file.list', 'dns.resolve']);

/** At most this many messages wait for a reconnection; beyond that the oldest is dropped. */
const MAX_HELD = 1_000;

/**
 * Creates a session and waits until every cluster's child is ready, showing each cluster's
 * progress. `ending` is told about the creation first, so Ctrl-C at any point ends the session.
 */
export async function createSession(
  api: RouterApi,
  body: Record<string, unknown>,
  progress: Progress,
  ending: SessionEnding,
  timeoutMs = 60_000,
): Promise<SessionResource> {
  progress.step('creating a session');
  try {
    const created = await ending.creation(api.call<SessionResource>('POST', '/v1/sessions', body));
    const ready = await waitReady(api, created, progress, timeoutMs);
    ending.markReady();
    return ready;
  } catch (err) {
    // Ctrl-C landed: the set-up fails because the session is ending (closed, 409). That is the
    // ending's to report; it exits the process once done.
    if (ending.started) return new Promise<never>(() => {});
    throw err;
  }
}

export async function waitReady(
  api: RouterApi,
  first: SessionResource,
  progress: Progress,
  timeoutMs: number,
): Promise<SessionResource> {
  const seen = new Map<string, string>();
  const deadline = Date.now() + timeoutMs;
  let polls = 0;
  let s = first;
  let replicas: Map<string, ReplicaView[]> | undefined;
  for (;;) {
    for (const [id, c] of Object.entries(s.clusters)) {
      if (seen.get(id) === c.state) continue;
      seen.set(id, c.state);
      if (c.state === 'ready') replicas ??= await replicasOf(api);
      const line = clusterProgressLine(id, c, c.state === 'ready' ? replicas?.get(id) : undefined);
      if (c.state === 'ready') progress.info(line);
      else if (c.state === 'failed' || c.state === 'disconnected') progress.warn(line);
      else progress.step(line);
    }
    if (s.state === 'ready') return s;
    if (s.state === 'failed' || s.state === 'closed') {
      throw new SwitchyardError(
        s.error?.code ?? 'session_failed',
        `session ${s.id} ${s.state}: ${s.error?.message ?? s.closedReason ?? 'see the router logs'}`,
        502,
      );
    }
    if (Date.now() > deadline) {
      const waiting = Object.entries(s.clusters)
        .filter(([, c]) => c.state === 'pending')
        .map(([id]) => id);
      await api.call('DELETE', `/v1/sessions/${s.id}`).catch(() => {});
      throw new SwitchyardError(
        'timeout',
        `clusters ${waiting.join(', ')} did not get the session ready in ${timeoutMs / 1000} s: check their connectors`,
        504,
      );
    }
    // Quick at first (a local session is ready in tens of ms), gentler after.
    await new Promise((r) => setTimeout(r, ++polls < 40 ? 25 : 200));
    s = await api.call<SessionResource>('GET', `/v1/sessions/${s.id}`);
  }
}

/** Each cluster's connector replicas, for the progress lines; none when the router cannot say. */
async function replicasOf(api: RouterApi): Promise<Map<string, ReplicaView[]>> {
  try {
    const { clusters } = await api.call<{ clusters: { id: string; replicas?: ReplicaView[] }[] }>(
      'GET',
      '/v1/clusters',
    );
    return new Map(clusters.map((c) => [c.id, c.replicas ?? []]));
  } catch {
    return new Map();
  }
}

/**
 * One WebSocket for one session: stateful requests answered in request order, traffic events,
 * heartbeats, and resume after a drop (same URL, same session). A session that cannot be resumed
 * ends with a `gone` event instead of a hang.
 *
 * Events: `request` (stolen or mirrored), `request-stream` (its `data`/`close`), `status`, `subscribed`, `outgoing` (data/close),
 * `connected` (each open), `dropped`, `gone` (FatalReason).
 */
export class SessionConnection extends EventEmitter {
  readonly peer: Peer;
  private seq = 0;
  private readonly waiting = new Map<
    number,
    { resolve: (m: Msg) => void; reject: (e: Error) => void; frame: Msg; repeatable: boolean }
  >();
  private readonly releaser = new OrderedReleaser<Msg & Sequenced>({ firstSeq: 1, giveUpMs: 30_000 });
  private readonly subWaiters = new Map<string, (m: Msg) => void>();
  private readonly pinger: NodeJS.Timeout;
  private opened = false;
  /** Messages that found the connection down, sent after the next (re)connection. */
  private readonly held: { msg: Msg; until: number }[] = [];
  /** The `part` of each streamed answer's frames, as they leave. */
  private readonly parts = new StreamParts();
  /** Streamed requests' frames, put back in order as they arrive. */
  private readonly incoming = new StreamReorderer<OrderedFrame>(
    (f) => this.emit(f.type === 'request' ? 'request' : 'request-stream', f),
    (requestId, why) => {
      // A body with a hole is never handed on as whole: the local request is cut, and the
      // cluster told, so the client's connection is cut too.
      this.emit('request-stream', { type: 'close', requestId, reason: `stream out of order: ${why}` });
      this.sendOrHold({ type: 'close', requestId, reason: `a frame of the request was lost (${why})` });
    },
  );

  constructor(
    wsUrl: string,
    token: string,
    readonly sessionId: string,
    opts: { heartbeatMs?: number } = {},
  ) {
    super();
    const url = new URL(wsUrl);
    url.searchParams.set('session', sessionId);
    this.peer = new Peer({ url: url.toString(), headers: { authorization: `Bearer ${token}` } });
    this.peer.on('open', () => {
      this.emit('connected', this.opened);
      this.opened = true;
      this.send({ type: 'ping', nonce: 'hello' });
      this.resumeRequests();
      this.flushHeld();
    });
    this.peer.on('drop', (d) => this.emit('dropped', d));
    this.peer.on('fatal', (r: FatalReason) => this.emit('gone', r));
    this.peer.on('message', (m: Message) => this.receive(m as unknown as Msg));
    // Heartbeats keep the session alive on the router (and the idle timer of API Gateway away).
    this.pinger = setInterval(() => this.send({ type: 'ping' }), opts.heartbeatMs ?? MAX_HEARTBEAT_MS);
    this.pinger.unref();
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onGone = (r: FatalReason) => reject(new SwitchyardError(r.code, r.message, r.status));
      this.once('gone', onGone);
      this.once('connected', () => {
        this.off('gone', onGone);
        resolve();
      });
      this.peer.start();
    });
  }

  send(msg: Msg): boolean {
    return this.peer.send({ v: 1, ...msg });
  }

  /**
   * Sends now, or, when the connection is down, right after the session resumes: for answers
   * that must survive a drop (the response to a stolen request, which the cluster holds until
   * its deadline). Held messages older than `maxAgeMs` are dropped; an answer that arrives after
   * the cluster's deadline is ignored there (it already served the request from the upstream),
   * so a request is never answered twice.
   */
  sendOrHold(msg: Msg, maxAgeMs = 60_000): void {
    msg = this.numbered(msg);
    if (this.send(msg)) return;
    if (this.held.length >= MAX_HELD) this.held.shift();
    this.held.push({ msg, until: Date.now() + maxAgeMs });
  }

  /**
   * A streamed answer's `data` and clean `close` get their `part` (the head is 0): the router may
   * reorder frames, and the connector puts them back in order by it.
   */
  private numbered(msg: Msg): Msg {
    if ((msg.type !== 'data' && msg.type !== 'close') || typeof msg.requestId !== 'string') return msg;
    const reason = typeof msg.reason === 'string' ? msg.reason : undefined;
    const part = this.parts.number(msg.type, msg.requestId, reason);
    return part === undefined ? msg : { ...msg, part };
  }

  private flushHeld(): void {
    const now = Date.now();
    while (this.held.length) {
      const next = this.held[0]!;
      if (next.until >= now && !this.send(next.msg)) return; // dropped again: keep the rest for the next open
      this.held.shift();
    }
  }

  /**
   * A stateful request to the default cluster; resolves with its reply (in request order).
   *
   * Across a drop: a request that only reads (env, files, DNS) is sent again when the session
   * resumes (or first then, when it was made while the connection was down); its reply is
   * released once, a second copy is dropped as late. Any other request in flight (opening an
   * outgoing connection) fails with `connection_lost`, since doing it twice is not harmless.
   */
  request(msg: Msg, timeoutMs = 30_000): Promise<Msg> {
    const seq = ++this.seq;
    const reqId = `r${seq}`;
    const frame = { ...msg, reqId, seq };
    this.releaser.expect(seq, Date.now(), reqId);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.abandon(
            seq,
            new SwitchyardError(
              'timeout',
              `no answer from the default cluster in ${timeoutMs / 1000} s`,
              504,
            ),
          ),
        timeoutMs,
      );
      this.waiting.set(seq, {
        resolve: (m) => {
          clearTimeout(timer);
          if (m.type === 'error') reject(new SwitchyardError(String(m.code), String(m.message), 502));
          else resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
        frame,
        repeatable: REPEATABLE.has(msg.type),
      });
      if (this.send(frame) || REPEATABLE.has(msg.type)) return;
      this.abandon(seq, new SwitchyardError('not_connected', 'not connected to the router', 503));
    });
  }

  /**
   * Fails request `seq` now and gives up its place in the reply order, so the replies of later
   * requests are not held behind a reply that will not come (a late one is dropped).
   */
  private abandon(seq: number, err: SwitchyardError): void {
    const w = this.waiting.get(seq);
    if (!w) return;
    this.waiting.delete(seq);
    w.reject(err);
    const placeholder = { v: 1, type: 'error', seq, reqId: `r${seq}`, code: err.code, message: err.message };
    this.release(this.releaser.push(placeholder as Msg & Sequenced, Date.now()));
  }

  /**
   * After a resume, or when the replica answering stateful requests went away: requests in
   * flight are sent again (the router picks the next replica), or failed when repeating them is
   * not safe. A reply that still comes from the first attempt is released once (by `seq`).
   */
  private resumeRequests(
    why = 'the connection to the router dropped while this request was in flight: try again',
  ): void {
    for (const [seq, w] of [...this.waiting].sort(([a], [b]) => a - b)) {
      if (w.repeatable) this.send(w.frame);
      else this.abandon(seq, new SwitchyardError('connection_lost', why, 503));
    }
  }

  private release(replies: (Msg & Sequenced)[]): void {
    for (const r of replies) {
      const w = r.seq === undefined ? undefined : this.waiting.get(r.seq);
      if (w) {
        this.waiting.delete(r.seq!);
        w.resolve(r as unknown as Msg);
      }
    }
  }

  /** Subscribes on every workload cluster; resolves with the aggregated answer. */
  subscribe(
    sub: { subId: string; service: string; mode: 'steal' | 'mirror'; filter: Record<string, unknown> },
    timeoutMs = 30_000,
  ): Promise<Msg> {
    const reqId = `s${randomBytes(4).toString('hex')}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.subWaiters.delete(reqId);
        reject(
          new SwitchyardError(
            'timeout',
            `the clusters did not confirm the subscription in ${timeoutMs / 1000} s`,
            504,
          ),
        );
      }, timeoutMs);
      this.subWaiters.set(reqId, (m) => {
        clearTimeout(timer);
        if (m.type === 'error') reject(new SwitchyardError(String(m.code), String(m.message), 400));
        else resolve(m);
      });
      this.send({ type: 'subscribe', reqId, ...sub });
    });
  }

  private receive(m: Msg): void {
    if (
      typeof m.seq === 'number' &&
      (m.type.endsWith('.result') || m.type === 'outgoing.connected' || m.type === 'error')
    ) {
      this.release(this.releaser.push(m as Msg & Sequenced, Date.now()) as (Msg & Sequenced)[]);
      return;
    }
    if (
      (m.type === 'subscribed' || m.type === 'error') &&
      typeof m.reqId === 'string' &&
      this.subWaiters.has(m.reqId)
    ) {
      const w = this.subWaiters.get(m.reqId)!;
      this.subWaiters.delete(m.reqId);
      w(m);
      return;
    }
    switch (m.type) {
      case 'request':
        // A streamed request's body follows in numbered frames, put back in order here.
        if (m.stream === true && typeof m.requestId === 'string') this.incoming.head(m as OrderedFrame);
        else this.emit('request', m);
        return;
      case 'session.status':
        this.emit('status', m);
        return;
      case 'outgoing.data':
      case 'outgoing.close':
        this.emit('outgoing', m);
        return;
      case 'data':
      case 'close':
        // A stolen request's body streaming in, or the cluster cutting it (the client went away).
        if (typeof m.requestId === 'string') this.incoming.frame(m as OrderedFrame);
        return;
      case 'error':
        // Replaced by a newer connection: on AWS this frame is all that says so (the close that
        // follows carries no code), and reconnecting would take the session back from the newer one.
        if (m.code === REPLACED.name) {
          this.stop();
          this.emit('gone', {
            status: 409,
            code: REPLACED.name,
            message: `${String(m.message)}: another switchyard took this session over`,
          });
          return;
        }
        // Errors tied to an outgoing connection close it; others are shown.
        if (m.connId !== undefined)
          this.emit('outgoing', { ...m, type: 'outgoing.close', reason: m.message });
        else if (m.code === 'replica_gone') {
          this.resumeRequests(`${String(m.message)}: this request could not be repeated safely, try again`);
          this.emit('replica-gone', m);
        } else this.emit('router-error', m);
        return;
      default:
        this.emit(m.type, m);
    }
  }

  stop(): void {
    clearInterval(this.pinger);
    this.peer.stop();
  }
}
