import { PassThrough } from 'node:stream';
import { Peer } from '../client-transport/peer.ts';
import { SHARED_REASSEMBLY } from '../shared/protocol/chunking.ts';
import { replyIdsOf } from '../shared/protocol/error-frame.ts';
import { compileFilter, type HttpFilter, type RequestMatcher } from '../shared/protocol/filter.ts';
import type { Message, MessageOf } from '../shared/protocol/messages.ts';
import { type StreamFrameLike, StreamParts, StreamReorderer } from '../shared/protocol/stream-order.ts';
import type { MessageType } from '../shared/protocol/types.ts';
import { type AnswerHead, type AnswerTarget, answerTarget, notYourRequest } from './answer-binding.ts';
import { Answers } from './answers.ts';
import type { ConnectorConfig } from './config.ts';
import { DrainWatch } from './drain-watch.ts';
import { Ingress } from './ingress/ingress.ts';
import type {
  ForwardedRequest,
  ForwardedResponse,
  MissedReason,
  RequestHead,
  TrafficRouter,
} from './ingress/types.ts';
import { RouterLink } from './lifecycle/router-link.ts';
import { OutgoingTunnels } from './outgoing.ts';
import { PendingRequests } from './pending-requests.ts';
import { randomReplicaId, sanitizeReplicaId } from './replica-id.ts';
import { envOf, fileList, fileRead, fileStat, resolveHost } from './stateful.ts';

export interface ConnectorOptions {
  router: string;
  cluster: string;
  /** A function is called on every dial, so a token file rotated in place is picked up. */
  token: string | (() => string);
  config: ConnectorConfig;
  /**
   * This replica's id, stable across its reconnects (the pod name). Replicas of one cluster
   * each hold every session; without one, the connector is a replica of its own (random id).
   */
  replicaId?: string;
  log?: (line: Record<string, unknown>) => void;
  /** Extra message handlers (database branching registers here). */
  extensions?: ConnectorExtension[];
}

export interface ConnectorExtension {
  types: string[];
  handle(msg: Record<string, unknown>, connector: Connector): Promise<void> | void;
  onOpen?(connector: Connector): void;
  /** Env a session gets on top of its service's (database branch URLs, from the child spec). */
  sessionEnv?(spec: Record<string, unknown>): Record<string, string>;
  stop?(): Promise<void> | void;
}

interface Sub {
  sessionId: string;
  subId: string;
  service: string;
  mode: 'mirror' | 'steal';
  matcher: RequestMatcher;
  order: number;
}

/**
 * Raw bytes per `data` frame of a streamed request body: base64 makes 16 KB about 22 KB, under
 * the 32 KB frame limit with room for the envelope, so a chunk is never re-chunked.
 */
const DATA_FRAME_BYTES = 16 * 1024;

type AnyMsg = Record<string, unknown> & { type: string; sessionId?: string };

/** What a handler of a message from the router gets besides the message. */
interface Inbound {
  sessionId: string;
  /** Answers the message on its session, with its `reqId` and `seq`. */
  reply(fields: Record<string, unknown>): unknown;
}
/**
 * The router connection's send queue: past the high-water mark, streamed request bodies (uploads
 * after their answer, stolen WebSockets) stop being read from their clients; below the low one,
 * they go on. Memory per connector is then bounded by these, not by how fast clients send.
 */
const SEND_HIGH_WATER = 4 * 1024 * 1024;
const SEND_LOW_WATER = 1024 * 1024;
/** A developer's `response`, `data` or `close` for a stolen request (admitted: bound to its session). */
type AnswerFrame = AnyMsg & StreamFrameLike;

/**
 * The cluster side. It dials out to the router (so the cluster needs no inbound access), serves
 * the child sessions the router creates, fronts its services' traffic and answers stateful
 * operations. Children live in memory: after a restart the router re-sends them on hello.
 */
export class Connector implements TrafficRouter {
  readonly peer: Peer;
  /** Whether the router is there; the connector serves production either way (fail-open). */
  readonly link: RouterLink;
  private readonly children = new Map<string, { childId: string; spec: Record<string, unknown> }>();
  private readonly subs = new Map<string, Sub>();
  private readonly pending = new PendingRequests<ForwardedResponse>();
  /** Answers whose head went to the client and whose body still streams, by request id. */
  /** Callbacks waiting for the router connection's send queue to empty (request bodies paused). */
  private readonly drain = new DrainWatch(() => this.peer.bufferedAmount, SEND_LOW_WATER);
  /** The `part` of each streamed request body's frames, as they leave for the developer. */
  private readonly parts = new StreamParts();
  /** Developers' streamed answers, put back in order (the router may reorder frames). */
  private readonly answerOrder = new StreamReorderer<AnswerFrame>(
    (f) => this.onAnswerFrame(f),
    (requestId, why) => this.answerStalled(requestId, why),
  );
  private readonly streams = new Map<
    string,
    { sessionId: string; body: PassThrough; answer: ForwardedResponse }
  >();
  private refused = 0;
  /** Messages from the router still being handled (stateful operations take a while). */
  private readonly handling = new Set<Promise<void>>();
  readonly ingresses: Ingress[] = [];
  /** Set by the shutdown: no stolen request waits longer than this any more. */
  private stealCapMs?: number;
  private readonly tunnels: OutgoingTunnels;
  private order = 0;
  private readonly log: (line: Record<string, unknown>) => void;
  private readonly answers: Answers;
  readonly ports: Record<string, number> = {};
  readonly replicaId: string;

  constructor(readonly opts: ConnectorOptions) {
    this.log =
      opts.log ??
      ((l) =>
        process.stderr.write(
          `${JSON.stringify({ cluster: opts.cluster, replica: this.replicaId, ...l })}\n`,
        ));
    this.replicaId = opts.replicaId ? sanitizeReplicaId(opts.replicaId) : randomReplicaId();
    const url = new URL(opts.router);
    url.searchParams.set('cluster', opts.cluster);
    // The same replica id on a new connection makes the router drop the old connection.
    url.searchParams.set('replica', this.replicaId);
    const token = opts.token;
    this.peer = new Peer(
      {
        url: url.toString(),
        headers: () => ({ authorization: `Bearer ${typeof token === 'function' ? token() : token}` }),
        // Fail-open: a refused token is retried (it may be rotated) while traffic passes through.
        retryRefused: true,
      },
      // Every developer's chunks share this one connection: each gets a fair share of the bounds.
      SHARED_REASSEMBLY,
    );
    this.link = new RouterLink(this.peer, this.log);
    this.peer.screenChunk = (chunk) => this.admit(chunk.head);
    this.answers = new Answers((msg) => this.send(msg), this.log);
    this.tunnels = new OutgoingTunnels(
      () => opts.config.outgoing.allow,
      (sessionId, connId, data) =>
        this.send({ type: 'outgoing.data', sessionId, connId, data: data.toString('base64') }),
      (sessionId, connId, reason) =>
        this.send({ type: 'outgoing.close', sessionId, connId, ...(reason ? { reason } : {}) }),
      () => opts.config.hosts,
    );
  }

  get cluster(): string {
    return this.opts.cluster;
  }

  get config(): ConnectorConfig {
    return this.opts.config;
  }

  /** Live sessions this replica serves. */
  get sessionCount(): number {
    return this.children.size;
  }

  /** Answers refused with `not_your_request` since start (also logged, one line each). */
  get refusedAnswers(): number {
    return this.refused;
  }

  send(msg: AnyMsg): boolean {
    return this.peer.send({ v: 1, ...msg });
  }

  async start(): Promise<void> {
    for (const s of this.opts.config.services) {
      const ingress = new Ingress(s, this, this.opts.config.maxBodyBytes, this.log);
      this.ports[s.name] = await ingress.listen();
      this.ingresses.push(ingress);
    }
    this.peer.on('open', () => {
      this.send({
        type: 'hello',
        cluster: this.opts.cluster,
        replica: this.replicaId,
        services: this.opts.config.services.map((s) => s.name),
      });
      for (const e of this.opts.extensions ?? []) e.onOpen?.(this);
    });
    this.peer.on('protocol-error', (err: unknown) => this.answers.refuseFrame(err));
    this.peer.on('message', (m: Message) => {
      const handled: Promise<void> = this.dispatch(m as unknown as AnyMsg)
        .catch((err) => this.answers.failure(err, replyIdsOf(m)))
        .finally(() => this.handling.delete(handled));
      this.handling.add(handled);
    });
    this.peer.start();
  }

  /** Resolves once every message received so far has been handled (and answered). */
  async settled(): Promise<void> {
    while (this.handling.size) await Promise.all(this.handling);
  }

  /** Says goodbye to the router (this replica leaves on purpose), then closes everything. */
  async stop(): Promise<void> {
    this.send({ type: 'goodbye', reason: 'shutdown' });
    this.peer.stop();
    this.pending.stop();
    for (const id of [...this.streams.keys()]) this.cutStream(id, 'the connector is shutting down');
    this.tunnels.closeAll();
    for (const e of this.opts.extensions ?? []) await e.stop?.();
    await Promise.all(this.ingresses.map((i) => i.close()));
  }

  // ---- traffic ------------------------------------------------------------------------------

  match(
    service: string,
    req:
      | ForwardedRequest
      | { method: string; path: string; headers: Record<string, string | string[] | undefined> },
  ) {
    let steal: Sub | undefined;
    const mirrors: Sub[] = [];
    for (const s of this.subs.values()) {
      if (s.service !== service || !this.children.has(s.sessionId) || !s.matcher(req)) continue;
      if (s.mode === 'steal') {
        if (!steal || s.order < steal.order) steal = s;
      } else mirrors.push(s);
    }
    return {
      ...(steal ? { steal: { sessionId: steal.sessionId, subId: steal.subId } } : {}),
      mirrors: mirrors.map((m) => ({ sessionId: m.sessionId, subId: m.subId })),
    };
  }

  private requestMessage(
    target: { sessionId: string; subId: string },
    req: ForwardedRequest,
    mode: 'steal' | 'mirror',
  ) {
    return {
      type: 'request',
      sessionId: target.sessionId,
      requestId: req.requestId,
      subId: target.subId,
      mode,
      method: req.method,
      path: req.path,
      headers: req.headers,
      ...(req.body.length ? { body: req.body.toString('base64') } : {}),
      ...(req.stream ? { stream: true } : {}),
      ...(req.upgrade ? { upgrade: true } : {}),
    };
  }

  requestBody(target: { sessionId: string }, requestId: string, chunk: Buffer): boolean {
    for (let at = 0; at < chunk.length; at += DATA_FRAME_BYTES) {
      const data = chunk.subarray(at, at + DATA_FRAME_BYTES).toString('base64');
      // Numbered: the router may reorder frames, and the session puts them back in order by it.
      const part = this.parts.number('data', requestId, undefined, target.sessionId);
      this.send({ type: 'data', sessionId: target.sessionId, requestId, data, part });
    }
    return this.peer.bufferedAmount < SEND_HIGH_WATER;
  }

  whenDrained(callback: () => void): void {
    this.drain.whenBelow(callback);
  }

  endRequestBody(target: { sessionId: string }, requestId: string, reason?: string): void {
    const part = this.parts.number('close', requestId, reason);
    this.send({
      type: 'close',
      sessionId: target.sessionId,
      requestId,
      ...(reason ? { reason } : {}),
      ...(part !== undefined ? { part } : {}),
    });
    // No longer the developer's to answer: a request still waiting goes to the upstream.
    if (reason !== undefined) this.pending.answer(requestId, target.sessionId, undefined);
  }

  steal(
    target: { sessionId: string; subId: string },
    req: ForwardedRequest,
  ): Promise<ForwardedResponse | undefined> {
    // Bound to the session it goes to before it leaves: only that session's answer settles it.
    // The deadline bounds every wait: a drop, a slow laptop or a lost answer ends at the upstream;
    // a shutting-down connector caps it (handBackStolen).
    const answer = this.pending.wait(
      req.requestId,
      target.sessionId,
      Math.min(this.opts.config.requestDeadlineMs, this.stealCapMs ?? Number.POSITIVE_INFINITY),
      () =>
        this.log({
          level: 'WARN',
          message: 'developer too slow; serving from upstream',
          requestId: req.requestId,
        }),
    );
    if (!this.send(this.requestMessage(target, req, 'steal'))) {
      this.pending.answer(req.requestId, target.sessionId, undefined);
    }
    return answer;
  }

  /**
   * Shutting down: stolen requests the developer has not answered within `afterMs` go to the
   * upstream, and any stolen after that goes there at once.
   */
  handBackStolen(afterMs: number): void {
    this.stealCapMs = afterMs;
    setTimeout(() => {
      this.stealCapMs = 0;
      const count = this.pending.giveUpWaiting();
      if (count)
        this.log({
          level: 'WARN',
          message: 'shutting down: stolen requests handed back to the upstream',
          count,
        });
    }, afterMs).unref();
  }

  mirror(target: { sessionId: string; subId: string }, req: ForwardedRequest): void {
    this.send(this.requestMessage(target, req, 'mirror'));
  }

  /** Sent to that one session only: another developer learns nothing about the request. */
  missed(target: { sessionId: string; subId: string }, head: RequestHead, why: MissedReason): void {
    const path = head.path.length > 200 ? `${head.path.slice(0, 200)}…` : head.path;
    this.send({
      type: 'error',
      sessionId: target.sessionId,
      code: why.code,
      message: `${head.method} ${path}: its body is above the connector's limit of ${why.limit} bytes, so the cluster's own service answered it`,
      method: head.method,
      path,
      limit: why.limit,
    });
  }

  // ---- streamed answers -----------------------------------------------------------------------

  /** A developer's `response`, `data` or `close` for a stolen request, in its stream's order. */
  private onAnswerFrame(m: AnswerFrame): void {
    const sessionId = m.sessionId as string;
    const requestId = m.requestId;
    if (m.type === 'data') {
      this.streamData(requestId, sessionId, Buffer.from(m.data as string, 'base64'));
      return;
    }
    if (m.type === 'close') {
      this.endStreamOf(requestId, sessionId, m.reason, stringRecord(m.trailers));
      return;
    }
    const r = m as unknown as {
      status: number;
      headers: Record<string, string>;
      body?: string;
      fallback?: boolean;
      stream?: boolean;
    };
    if (r.stream && !r.fallback) {
      this.startStream(requestId, sessionId, r.status, r.headers);
      return;
    }
    const trailers = stringRecord(m.trailers);
    this.pending.answer(
      requestId,
      sessionId,
      r.fallback
        ? undefined
        : {
            status: r.status,
            headers: r.headers,
            body: Buffer.from(r.body ?? '', 'base64'),
            ...(trailers ? { trailers } : {}),
          },
    );
  }

  /** A streamed answer whose frames did not all arrive: cut, never ended as if complete. */
  private answerStalled(requestId: string, why: string): void {
    this.log({ level: 'WARN', message: 'a streamed answer lost a frame; the client is cut', requestId, why });
    this.cutStream(requestId, `a frame of the answer was lost (${why})`);
  }

  /**
   * A `response` with `stream: true`: the head goes to the client now, the body follows in
   * `data` frames until `close`. Only the session whose answer was taken may go on with it.
   */
  private startStream(requestId: string, sessionId: string, status: number, headers: Record<string, string>) {
    const body = new PassThrough();
    const answer: ForwardedResponse = { status, headers, body };
    if (this.pending.answer(requestId, sessionId, answer) !== 'bound') return;
    this.pending.openStream(requestId, sessionId);
    this.streams.set(requestId, { sessionId, body, answer });
    // Closed while still listed: the client went away (or the write failed). The developer is
    // told, so the local app stops producing a body nobody reads.
    body.once('close', () => {
      if (this.streams.get(requestId)?.body !== body) return;
      this.streams.delete(requestId);
      this.pending.endStream(requestId);
      this.send({ type: 'close', sessionId, requestId, reason: 'the client went away' });
    });
  }

  private streamData(requestId: string, sessionId: string, data: Buffer): void {
    const s = this.streams.get(requestId);
    if (s?.sessionId === sessionId) {
      s.body.write(data);
      return;
    }
    // Admitted but not streaming: the head has not come (a `data` may not precede its `response`).
    this.log({ level: 'WARN', message: 'data before its response head; dropped', requestId });
  }

  private endStreamOf(
    requestId: string,
    sessionId: string,
    reason: string | undefined,
    trailers: Record<string, string> | undefined,
  ): void {
    const s = this.streams.get(requestId);
    if (!s) {
      // A `close` before any head: the developer gives the request up, the upstream serves it.
      this.pending.answer(requestId, sessionId, undefined);
      return;
    }
    if (s.sessionId !== sessionId) return;
    if (reason === undefined) {
      this.streams.delete(requestId);
      this.pending.endStream(requestId);
      // Read by the ingress when the body ends, after every `data` before this `close`.
      if (trailers) s.answer.trailers = trailers;
      s.body.end();
    } else this.cutStream(requestId, reason);
  }

  /** Cuts a streaming answer: the client connection is cut, never ended as if complete. */
  private cutStream(requestId: string, reason: string): void {
    this.answerOrder.forget(requestId);
    const s = this.streams.get(requestId);
    if (!s) return;
    this.streams.delete(requestId);
    this.pending.endStream(requestId);
    s.body.destroy(new Error(reason));
  }

  /**
   * Whether a message that answers a stolen request or a tunnel may be taken: only from the
   * session it was delivered to. `sessionId` is what the router stamped from the sender's
   * authenticated connection, never what the sender wrote. A late answer of that session is
   * dropped quietly; anything else is refused with `not_your_request`, and the real answer,
   * still awaited, wins.
   */
  private admit(head: AnswerHead): boolean {
    const target = answerTarget(head);
    if (!target) return true;
    const sessionId = typeof head.sessionId === 'string' ? head.sessionId : undefined;
    const verdict =
      target.kind === 'request'
        ? this.pending.verdict(target.requestId, sessionId)
        : this.tunnels.verdict(sessionId, target.connId);
    if (verdict === 'refused') this.refuse(sessionId, target, head.type);
    return verdict === 'bound';
  }

  private refuse(sessionId: string | undefined, target: AnswerTarget, type: string): void {
    this.refused++;
    const err = notYourRequest(target);
    const about = target.kind === 'request' ? { requestId: target.requestId } : { connId: target.connId };
    this.log({
      level: 'WARN',
      message: 'refused an answer from a session it was not delivered to',
      code: err.code,
      type,
      ...(sessionId !== undefined ? { sessionId } : {}),
      ...about,
      refused: this.refused,
    });
    // Without a session it came from the router itself (an error about something already over).
    if (sessionId !== undefined) {
      this.send({ type: 'error', sessionId, ...about, code: err.code, message: err.message });
    }
  }

  private dropSession(sessionId: string): void {
    this.children.delete(sessionId);
    this.parts.forgetOwner(sessionId);
    for (const [k, s] of this.subs) if (s.sessionId === sessionId) this.subs.delete(k);
    this.pending.endSession(sessionId);
    for (const [id, s] of [...this.streams])
      if (s.sessionId === sessionId) this.cutStream(id, 'session ended');
    this.tunnels.closeSession(sessionId);
  }

  private subscribe(
    sessionId: string,
    sub: { subId: string; service: string; mode: 'mirror' | 'steal'; filter: HttpFilter },
  ) {
    if (!this.opts.config.services.some((s) => s.name === sub.service)) {
      throw Object.assign(new Error(`cluster '${this.opts.cluster}' fronts no service '${sub.service}'`), {
        code: 'unknown_service',
      });
    }
    const key = `${sessionId}\n${sub.subId}`;
    const existing = this.subs.get(key);
    this.subs.set(key, {
      sessionId,
      subId: sub.subId,
      service: sub.service,
      mode: sub.mode,
      matcher: compileFilter(sub.filter),
      order: existing?.order ?? ++this.order,
    });
  }

  // ---- dispatch -----------------------------------------------------------------------------

  /**
   * What the connector does with each message from the router, by type: each handler gets its
   * own message type (validated on arrival) and the session's reply. A type with no handler is
   * logged and dropped.
   */
  private readonly handlers: { [T in MessageType]?: (m: MessageOf<T>, io: Inbound) => unknown } = {
    'child.create': (m, io) => this.createChild(m, io.sessionId),
    'child.close': (_m, io) => this.dropSession(io.sessionId),
    subscribe: (m, io) => {
      this.subscribe(io.sessionId, m as unknown as Parameters<Connector['subscribe']>[1]);
      io.reply({ type: 'subscribed', subId: m.subId });
    },
    unsubscribe: (m, io) => {
      this.subs.delete(`${io.sessionId}\n${m.subId}`);
    },
    response: (m) => {
      const frame = m as unknown as AnswerFrame;
      // A streamed answer's head is its part 0: `data` that overtook it waits for it.
      if (m.stream === true && m.fallback !== true) this.answerOrder.head(frame);
      else {
        this.answerOrder.forget(frame.requestId);
        this.onAnswerFrame(frame);
      }
    },
    data: (m) => this.answerOrder.frame(m as unknown as AnswerFrame),
    close: (m) => this.answerOrder.frame(m as unknown as AnswerFrame),
    'env.get': (m, io) => {
      const spec = this.children.get(io.sessionId)?.spec ?? {};
      const extra = (this.opts.extensions ?? []).map((e) => e.sessionEnv?.(spec) ?? {});
      io.reply({ type: 'env.result', env: Object.assign(envOf(this.opts.config, m.service), ...extra) });
    },
    'file.read': async (m, io) =>
      io.reply({
        type: 'file.result',
        ...(await fileRead(this.opts.config, m.service, m.path, m.offset, m.length)),
      }),
    'file.stat': async (m, io) =>
      io.reply({ type: 'file.result', stat: await fileStat(this.opts.config, m.service, m.path) }),
    'file.list': async (m, io) =>
      io.reply({ type: 'file.result', entries: await fileList(this.opts.config, m.service, m.path) }),
    'dns.resolve': async (m, io) =>
      io.reply({
        type: 'dns.result',
        addresses: await resolveHost(m.host, m.family, this.opts.config.hosts),
      }),
    'outgoing.connect': async (m, io) => {
      await this.tunnels.open(io.sessionId, m.connId, m.host, m.port);
      io.reply({ type: 'outgoing.connected', connId: m.connId });
    },
    'outgoing.data': (m, io) => {
      if (!this.tunnels.write(io.sessionId, m.connId, Buffer.from(m.data, 'base64'))) {
        this.send({
          type: 'outgoing.close',
          sessionId: io.sessionId,
          connId: m.connId,
          reason: 'no such connection',
        });
      }
    },
    'outgoing.close': (m, io) => this.tunnels.close(io.sessionId, m.connId),
    ping: (m, io) =>
      this.send({
        type: 'pong',
        ...(io.sessionId ? { sessionId: io.sessionId } : {}),
        ...(m.nonce ? { nonce: m.nonce } : {}),
        cluster: this.opts.cluster,
      }),
    error: (m, io) => {
      // The router could not deliver something of ours: a stolen request whose developer is gone.
      if (typeof m.requestId === 'string') {
        this.pending.answer(m.requestId, io.sessionId, undefined);
        // Undeliverable mid-stream (the developer is gone): the client must not wait forever.
        if (this.streams.get(m.requestId)?.sessionId === io.sessionId)
          this.cutStream(m.requestId, 'the developer is gone');
      } else
        this.log({
          // Another process took this replica id: this one gets no sessions until it is fixed.
          level: m.code === 'replica_replaced' ? 'ERROR' : 'WARN',
          message: 'router error',
          code: m.code,
          error: m.message,
        });
    },
  };

  /** A session's child, unless this cluster is to serve it and fronts no such service. */
  private createChild(m: MessageOf<'child.create'>, sessionId: string): void {
    const spec = (m.spec ?? {}) as {
      service?: string;
      roles?: string[];
      subscriptions?: Record<string, unknown>[];
    };
    const serves = !spec.service || this.opts.config.services.some((s) => s.name === spec.service);
    if (spec.roles?.includes('workload') && !serves) {
      this.send({
        type: 'child.failed',
        sessionId,
        childId: m.childId,
        code: 'unknown_service',
        message: `cluster '${this.opts.cluster}' fronts no service '${spec.service}' (it fronts: ${this.opts.config.services.map((s) => s.name).join(', ') || 'none'})`,
      });
      return;
    }
    this.children.set(sessionId, { childId: m.childId, spec });
    // Subscriptions replayed from the store: a connector that restarted serves them again.
    for (const sub of spec.subscriptions ?? [])
      this.subscribe(sessionId, sub as Parameters<Connector['subscribe']>[1]);
    this.send({ type: 'child.ready', sessionId, childId: m.childId });
  }

  private async dispatch(m: AnyMsg): Promise<void> {
    const sessionId = m.sessionId as string;
    const ids = replyIdsOf(m);
    const io: Inbound = {
      sessionId,
      reply: (fields) =>
        this.answers.answer(
          {
            sessionId,
            ...(m.reqId ? { reqId: m.reqId } : {}),
            ...(m.seq !== undefined ? { seq: m.seq } : {}),
            ...fields,
          } as AnyMsg,
          ids,
        ),
    };
    if (!this.admit(m)) return;
    for (const ext of this.opts.extensions ?? []) {
      if (ext.types.includes(m.type)) {
        await ext.handle(m, this);
        return;
      }
    }
    const handle = this.handlers[m.type as MessageType] as ((m: AnyMsg, io: Inbound) => unknown) | undefined;
    if (!handle) {
      this.log({ level: 'DEBUG', message: 'ignored message', type: m.type });
      return;
    }
    try {
      await handle(m, io);
    } catch (err) {
      this.answers.failure(err, ids);
    }
  }
}

/** A `trailers` field as sent: string values only, or undefined when absent or of another shape. */
function stringRecord(value: unknown): Record<string, string> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'string') out[k] = v;
  return out;
}
