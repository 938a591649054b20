import { isUtf8 } from 'node:buffer';
import type { WebSocket } from 'ws';
import type { ConnectionContext } from './websocket-events.ts';

/**
 * The gateway's open connections, shared by the WebSocket side (which adds and removes them)
 * and the @connections API (which posts to, describes and closes them).
 */
export interface Connection {
  readonly context: ConnectionContext;
  /** Absent while $connect runs: like API Gateway, a connection cannot be posted to before it is accepted. */
  socket?: WebSocket;
  lastActiveAt: number;
}

export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();

  add(connection: Connection): void {
    this.connections.set(connection.context.connectionId, connection);
  }

  remove(connectionId: string): void {
    this.connections.delete(connectionId);
  }

  /** An accepted connection whose socket is still open, or undefined (the caller answers 410 Gone). */
  open(connectionId: string): (Connection & { socket: WebSocket }) | undefined {
    const c = this.connections.get(connectionId);
    return c?.socket && c.socket.readyState === c.socket.OPEN
      ? (c as Connection & { socket: WebSocket })
      : undefined;
  }

  all(): Connection[] {
    return [...this.connections.values()];
  }

  /** Sends like API Gateway: text frames for UTF-8 data, binary frames for anything else. */
  post(connection: Connection & { socket: WebSocket }, data: Buffer, now: number): void {
    connection.socket.send(data, { binary: !isUtf8(data) });
    connection.lastActiveAt = now;
  }
}
