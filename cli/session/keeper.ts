import { REPLACED } from '../../shared/protocol/close-codes.ts';
import type { RouterApi } from '../router/api-client.ts';
import type { Progress } from './progress.ts';
import { SessionConnection, type SessionResource } from './session-client.ts';

/** How the session looked when it was checked: `clientConnected` says whether someone holds its WebSocket. */
type Checked = SessionResource & { clientConnected?: boolean };

const replaced = (code: string) => code === REPLACED.name || code === `closed_${REPLACED.code}`;

/**
 * Keeps a session alive from a command that needs its WebSocket only for the heartbeats (`split`).
 *
 * Another switchyard may take the session's connection over (`switchyard exec <service> --session
 * <id> -- <consumer>`): the router closes this one as replaced, and the newer one carries the
 * heartbeats. Dialing again at once would take the session back and the two would take turns, so
 * this one waits, looks at the session every `pollMs`, and holds the connection again once the
 * other one left. The session stays this command's to end (Ctrl-C).
 */
export class SessionKeeper {
  private conn: SessionConnection | undefined;
  private poll: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly api: RouterApi,
    private readonly sessionId: string,
    private readonly progress: Progress,
    /** The session is over (closed by the router, expired): the command ends. */
    private readonly onGone: (message: string) => void,
    private readonly pollMs = 2_000,
  ) {}

  start(): Promise<void> {
    return this.open();
  }

  private async open(): Promise<void> {
    const conn = new SessionConnection(this.api.target.wsUrl, this.api.target.token, this.sessionId);
    this.conn = conn;
    conn.on('gone', (r: { code: string; message: string }) => {
      if (this.stopped || this.conn !== conn) return;
      if (!replaced(r.code)) {
        this.onGone(r.message);
        return;
      }
      this.progress.warn(
        `another switchyard took session ${this.sessionId}'s connection over; it keeps the session alive until it leaves`,
      );
      this.waitForTheOther();
    });
    await conn.start();
  }

  private waitForTheOther(): void {
    clearInterval(this.poll);
    this.poll = setInterval(() => void this.check(), this.pollMs);
    this.poll.unref();
  }

  private async check(): Promise<void> {
    const s = await this.api.call<Checked>('GET', `/v1/sessions/${this.sessionId}`).catch(() => undefined);
    if (!s || this.stopped) return;
    if (s.state === 'closed' || s.state === 'failed') {
      clearInterval(this.poll);
      this.onGone(`it is ${s.state}${s.closedReason ? ` (${s.closedReason})` : ''}`);
      return;
    }
    if (s.clientConnected) return;
    clearInterval(this.poll);
    this.progress.info(`the other switchyard left: this one keeps session ${this.sessionId} alive again`);
    await this.open().catch((err) => this.onGone((err as Error).message));
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.poll);
    this.conn?.stop();
  }
}
