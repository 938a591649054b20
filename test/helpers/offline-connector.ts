import type { ConnectorConfig } from '../../connector/config.ts';
import { Connector, type ConnectorOptions } from '../../connector/connector.ts';

export interface OfflineConnector {
  connector: Connector;
  /** Frames the connector sent to the router. */
  sent: string[];
  /** Its log lines. */
  logged: Record<string, unknown>[];
  /** Hands it one text as if the router had sent it, and waits until it is handled. */
  receive(text: string): Promise<void>;
}

/**
 * A real connector whose router connection is never dialled: texts go to its message handler as
 * the router's frames would, and what it sends is recorded. For tests of what a connector
 * answers, without a router in the loop.
 */
export async function offlineConnector(
  config: ConnectorConfig,
  opts: Partial<ConnectorOptions> = {},
): Promise<OfflineConnector> {
  const sent: string[] = [];
  const logged: Record<string, unknown>[] = [];
  const connector = new Connector({
    router: 'ws://127.0.0.1:9',
    cluster: 'east',
    token: 'unused',
    config,
    log: (line) => logged.push(line),
    ...opts,
  });
  const socket = connector.peer.socket;
  socket.start = () => socket;
  socket.send = (frames: string[]) => {
    sent.push(...frames);
    return true;
  };
  await connector.start();
  return {
    connector,
    sent,
    logged,
    async receive(text) {
      socket.emit('message', text);
      await connector.settled();
    },
  };
}
