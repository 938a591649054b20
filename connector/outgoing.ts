import { connect, type Socket } from 'node:net';
import { outgoingAllowed } from './config.ts';
import type { AnswerVerdict } from './pending-requests.ts';
import { RecentlyEnded } from './recently-ended.ts';
import { OperationError } from './stateful.ts';

/**
 * Outgoing TCP tunnels from the developer through the default cluster. Each is keyed by the
 * session and the client-chosen connection id, and only reaches allow-listed host:port pairs.
 * Connection ids are the client's choice, so two sessions may both use `c1`: the session (from
 * the sender's authenticated connection) is part of the key, and a frame reaches only a tunnel
 * its own session opened.
 */
export class OutgoingTunnels {
  private readonly sockets = new Map<string, Socket>();
  private readonly ended = new RecentlyEnded();

  constructor(
    private readonly allow: () => string[],
    private readonly onData: (sessionId: string, connId: string, data: Buffer) => void,
    private readonly onClose: (sessionId: string, connId: string, reason?: string) => void,
    /** The connector config's `hosts`: names it resolves itself. */
    private readonly hosts: () => Record<string, string> = () => ({}),
  ) {}

  private key(sessionId: string, connId: string) {
    return `${sessionId}\n${connId}`;
  }

  open(sessionId: string, connId: string, host: string, port: number): Promise<void> {
    if (!outgoingAllowed(this.allow(), host, port)) {
      return Promise.reject(
        new OperationError(
          'outgoing_forbidden',
          `outgoing connections to ${host}:${port} are not allowed by this cluster's connector (outgoing.allow)`,
          403,
        ),
      );
    }
    const key = this.key(sessionId, connId);
    if (this.sockets.has(key))
      return Promise.reject(
        new OperationError('duplicate_conn', `connection ${connId} is already open`, 409),
      );
    return new Promise((resolve, reject) => {
      const socket = connect({ host: this.hosts()[host.toLowerCase()] ?? host, port });
      let opened = false;
      socket.once('connect', () => {
        opened = true;
        this.sockets.set(key, socket);
        resolve();
      });
      socket.on('data', (d) => this.onData(sessionId, connId, d));
      socket.on('error', (err) => {
        if (!opened)
          reject(
            new OperationError(
              'connect_failed',
              `cannot connect to ${host}:${port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`,
              502,
            ),
          );
      });
      socket.on('close', () => {
        if (this.sockets.get(key) === socket) {
          this.sockets.delete(key);
          this.ended.add(key, sessionId);
          this.onClose(sessionId, connId);
        }
      });
    });
  }

  /**
   * Whether a `outgoing.data`/`outgoing.close` from `sessionId` may touch `connId`: `bound` when
   * its session holds it open, `ended` when its session closed it lately (both ends closing at
   * once is normal), else `refused`, the same whether another session holds that id or nobody.
   */
  verdict(sessionId: string | undefined, connId: string): AnswerVerdict {
    if (sessionId === undefined) return 'refused';
    const key = this.key(sessionId, connId);
    if (this.sockets.has(key)) return 'bound';
    return this.ended.endedFor(key, sessionId) ? 'ended' : 'refused';
  }

  write(sessionId: string, connId: string, data: Buffer): boolean {
    const s = this.sockets.get(this.key(sessionId, connId));
    if (!s) return false;
    s.write(data);
    return true;
  }

  close(sessionId: string, connId: string): void {
    const key = this.key(sessionId, connId);
    const s = this.sockets.get(key);
    this.sockets.delete(key);
    if (s) this.ended.add(key, sessionId);
    s?.end();
  }

  closeSession(sessionId: string): void {
    for (const [key, s] of this.sockets) {
      if (key.startsWith(`${sessionId}\n`)) {
        this.sockets.delete(key);
        this.ended.add(key, sessionId);
        s.destroy();
      }
    }
  }

  closeAll(): void {
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
  }
}
