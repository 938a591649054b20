import type { EventEmitter } from 'node:events';
import type { DropReason } from '../../client-transport/reconnecting-socket.ts';

export type RouterState = 'connecting' | 'connected' | 'unreachable' | 'refused';

/** What `/readyz` shows about the router. Never holds the token; `reason` is the router's answer or the socket error. */
export interface RouterLinkStatus {
  state: RouterState;
  /** When the state began (ISO 8601). */
  since: string;
  reason?: string;
  /** The refusal's HTTP status and error code, when the router refused the token. */
  refused?: { status: number; code: string };
  retryInMs?: number;
  attempts?: number;
}

/** While the router stays away, the fail-open warning is repeated this often. */
const REMIND_EVERY_MS = 30_000;

type Log = (line: Record<string, unknown>) => void;

/**
 * The connector's view of its router connection. The connector fails open: whether the router
 * is unreachable or refuses the token, production traffic keeps passing through to the upstream
 * and the socket keeps retrying with backoff. This makes that state visible: loudly in the log
 * (on each change, and again every 30 s while it lasts) and in `/readyz`'s detail.
 */
export class RouterLink {
  private current: RouterLinkStatus = { state: 'connecting', since: new Date().toISOString() };
  private downSince?: number;
  private lastReminder = 0;
  private everConnected = false;

  constructor(
    peer: EventEmitter,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {
    peer.on('open', () => this.opened());
    peer.on('drop', (d: DropReason) => this.dropped(d));
  }

  get status(): RouterLinkStatus {
    return this.current;
  }

  private opened(): void {
    const downForMs = this.downSince === undefined ? undefined : this.now() - this.downSince;
    const again = this.everConnected;
    this.downSince = undefined;
    this.everConnected = true;
    this.current = { state: 'connected', since: this.iso() };
    this.log({
      level: 'INFO',
      message:
        downForMs === undefined
          ? 'connected to the router'
          : `connected to the router ${again ? 'again ' : ''}after ${Math.round(downForMs / 1000)} s without it; sessions resume`,
    });
  }

  private dropped(d: DropReason): void {
    const state: RouterState = d.refused ? 'refused' : 'unreachable';
    const changed = state !== this.current.state;
    const now = this.now();
    this.downSince ??= now;
    this.current = {
      state,
      since: changed ? this.iso() : this.current.since,
      reason: d.why,
      ...(d.refused ? { refused: { status: d.refused.status, code: d.refused.code } } : {}),
      retryInMs: d.retryInMs,
      attempts: d.attempt,
    };
    if (!changed && now - this.lastReminder < REMIND_EVERY_MS) return;
    this.lastReminder = now;
    this.log({
      level: 'ERROR',
      message:
        state === 'refused'
          ? 'FAIL-OPEN: the router refuses this connector (check its cluster token); production traffic passes through to the upstream, no session is served; retrying'
          : 'FAIL-OPEN: the router cannot be reached; production traffic passes through to the upstream, no session is served; retrying',
      reason: d.why,
      ...(d.refused ? { status: d.refused.status, code: d.refused.code } : {}),
      retryInMs: d.retryInMs,
      downForMs: now - this.downSince,
    });
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
