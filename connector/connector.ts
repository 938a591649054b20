import { Peer } from '../cli/transport/peer.ts';
import { compileFilter, type HttpFilter, type RequestMatcher } from '../shared/protocol/filter.ts';
import type { Message } from '../shared/protocol/messages.ts';
import type { ConnectorConfig } from './config.ts';
import { type ForwardedRequest, type ForwardedResponse, Ingress, type TrafficRouter } from './ingress.ts';
import { OutgoingTunnels } from './outgoing.ts';
import { randomReplicaId, sanitizeReplicaId } from './replica-id.ts';
import { envOf, fileList, fileRead, fileStat, resolveHost } from './stateful.ts';

export interface ConnectorOptions {
  router: string;
  cluster: string;
  token: string;
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

interface Pending {
  sessionId: string;
  resolve: (r: ForwardedResponse | undefined) => void;
  timer: NodeJS.Timeout;
}

type AnyMsg = Record<string, unknown> & { type: string; sessionId?: string };

/**
 * The cluster side. It dials out to the router (so the cluster needs no inbound access), serves
 * the child sessions the router creates, fronts its services' traffic and answers stateful
 * operations. Children live in memory: after a restart the router re-sends them on hello.
 */
export class Connector implements TrafficRouter {
  readonly peer: Peer;
  private readonly children = new Map<string, { childId: string; spec: Record<string, unknown> }>();
  private readonly subs = new Map<string, Sub>();
  private readonly pending = new Map<string, Pending>();
  private readonly ingresses: Ingress[] = [];
  private readonly tunnels: OutgoingTunnels;
  private order = 0;
  private readonly log: (line: Record<string, unknown>) => void;
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
    this.peer = new Peer({ url: url.toString(), headers: { authorization: `Bearer ${opts.token}` } });
    this.tunnels = new OutgoingTunnels(
      () => opts.config.outgoing.allow,
      (sessionId, connId, data) =>
        this.send({ type: 'outgoing.data', sessionId, connId, data: data.toString('base64') }),
      (sessionId, connId, reason) =>
        this.send({ type: 'outgoing.close', sessionId, connId, ...(reason ? { reason } : {}) }),
    );
  }

  get cluster(): string {
    return this.opts.cluster;
  }

  get config(): ConnectorConfig {
    return this.opts.config;
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
      this.log({ level: 'INFO', message: 'connected to the router' });
      this.send({
        type: 'hello',
        cluster: this.opts.cluster,
        replica: this.replicaId,
        services: this.opts.config.services.map((s) => s.name),
      });
      for (const e of this.opts.extensions ?? []) e.onOpen?.(this);
    });
    this.peer.on('drop', (d) =>
      this.log({ level: 'WARN', message: 'router connection lost; reconnecting', ...d }),
    );
    this.peer.on('fatal', (r) =>
      this.log({ level: 'ERROR', message: 'the router refused this connector', ...r }),
    );
    this.peer.on('protocol-error', (err) =>
      this.log({ level: 'WARN', message: 'invalid frame from the router', error: String(err) }),
    );
    this.peer.on('message', (m: Message) => {
      this.dispatch(m as unknown as AnyMsg).catch((err) =>
        this.log({ level: 'ERROR', message: 'message handling failed', type: m.type, error: String(err) }),
      );
    });
    this.peer.start();
  }

  async stop(): Promise<void> {
    this.peer.stop();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
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
    };
  }

  steal(
    target: { sessionId: string; subId: string },
    req: ForwardedRequest,
  ): Promise<ForwardedResponse | undefined> {
    return new Promise((resolve) => {
      if (!this.send(this.requestMessage(target, req, 'steal'))) {
        resolve(undefined);
        return;
      }
      // The deadline bounds every wait: a drop, a slow laptop or a lost answer ends at the upstream.
      const timer = setTimeout(() => {
        if (this.pending.delete(req.requestId)) {
          this.log({
            level: 'WARN',
            message: 'developer too slow; serving from upstream',
            requestId: req.requestId,
          });
          resolve(undefined);
        }
      }, this.opts.config.requestDeadlineMs);
      this.pending.set(req.requestId, { sessionId: target.sessionId, resolve, timer });
    });
  }

  mirror(target: { sessionId: string; subId: string }, req: ForwardedRequest): void {
    this.send(this.requestMessage(target, req, 'mirror'));
  }

  /** Answers a pending stolen request once; a second answer (after a resume) finds nothing. */
  private settle(requestId: string, response: ForwardedResponse | undefined): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    this.pending.delete(requestId);
    clearTimeout(p.timer);
    p.resolve(response);
  }

  private dropSession(sessionId: string): void {
    this.children.delete(sessionId);
    for (const [k, s] of this.subs) if (s.sessionId === sessionId) this.subs.delete(k);
    for (const [id, p] of this.pending) if (p.sessionId === sessionId) this.settle(id, undefined);
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

  private async dispatch(m: AnyMsg): Promise<void> {
    const sessionId = m.sessionId as string;
    const reply = (fields: Record<string, unknown>) =>
      this.send({
        sessionId,
        ...(m.reqId ? { reqId: m.reqId } : {}),
        ...(m.seq !== undefined ? { seq: m.seq } : {}),
        ...fields,
      } as AnyMsg);
    const fail = (err: unknown) => {
      const e = err as { code?: string; message?: string };
      reply({ type: 'error', code: e.code ?? 'internal', message: e.message ?? String(err) });
    };
    for (const ext of this.opts.extensions ?? []) {
      if (ext.types.includes(m.type)) {
        await ext.handle(m, this);
        return;
      }
    }
    try {
      switch (m.type) {
        case 'child.create': {
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
          this.children.set(sessionId, { childId: m.childId as string, spec });
          // Subscriptions replayed from the store: a connector that restarted serves them again.
          for (const sub of spec.subscriptions ?? [])
            this.subscribe(sessionId, sub as Parameters<Connector['subscribe']>[1]);
          this.send({ type: 'child.ready', sessionId, childId: m.childId });
          return;
        }
        case 'child.close':
          this.dropSession(sessionId);
          return;
        case 'subscribe':
          this.subscribe(sessionId, m as unknown as Parameters<Connector['subscribe']>[1]);
          reply({ type: 'subscribed', subId: m.subId });
          return;
        case 'unsubscribe':
          this.subs.delete(`${sessionId}\n${m.subId}`);
          return;
        case 'response': {
          const r = m as unknown as {
            requestId: string;
            status: number;
            headers: Record<string, string>;
            body?: string;
            fallback?: boolean;
          };
          this.settle(
            r.requestId,
            r.fallback
              ? undefined
              : { status: r.status, headers: r.headers, body: Buffer.from(r.body ?? '', 'base64') },
          );
          return;
        }
        case 'env.get': {
          const spec = this.children.get(sessionId)?.spec ?? {};
          const extra = (this.opts.extensions ?? []).map((e) => e.sessionEnv?.(spec) ?? {});
          reply({
            type: 'env.result',
            env: Object.assign(envOf(this.opts.config, m.service as string), ...extra),
          });
          return;
        }
        case 'file.read':
          reply({
            type: 'file.result',
            ...(await fileRead(
              this.opts.config,
              m.service as string,
              m.path as string,
              m.offset as number | undefined,
              m.length as number | undefined,
            )),
          });
          return;
        case 'file.stat':
          reply({
            type: 'file.result',
            stat: await fileStat(this.opts.config, m.service as string, m.path as string),
          });
          return;
        case 'file.list':
          reply({
            type: 'file.result',
            entries: await fileList(this.opts.config, m.service as string, m.path as string),
          });
          return;
        case 'dns.resolve':
          reply({
            type: 'dns.result',
            addresses: await resolveHost(m.host as string, m.family as 4 | 6 | undefined),
          });
          return;
        case 'outgoing.connect':
          await this.tunnels.open(sessionId, m.connId as string, m.host as string, m.port as number);
          reply({ type: 'outgoing.connected', connId: m.connId });
          return;
        case 'outgoing.data':
          if (!this.tunnels.write(sessionId, m.connId as string, Buffer.from(m.data as string, 'base64'))) {
            this.send({ type: 'outgoing.close', sessionId, connId: m.connId, reason: 'no such connection' });
          }
          return;
        case 'outgoing.close':
          this.tunnels.close(sessionId, m.connId as string);
          return;
        case 'ping':
          this.send({
            type: 'pong',
            ...(sessionId ? { sessionId } : {}),
            ...(m.nonce ? { nonce: m.nonce } : {}),
            cluster: this.opts.cluster,
          });
          return;
        case 'error':
          // The router could not deliver something of ours: a stolen request whose developer is gone.
          if (typeof m.requestId === 'string') this.settle(m.requestId, undefined);
          else
            this.log({
              // Another process took this replica id: this one gets no sessions until it is fixed.
              level: m.code === 'replica_replaced' ? 'ERROR' : 'WARN',
              message: 'router error',
              code: m.code,
              error: m.message,
            });
          return;
        default:
          this.log({ level: 'DEBUG', message: 'ignored message', type: m.type });
      }
    } catch (err) {
      fail(err);
    }
  }
}
