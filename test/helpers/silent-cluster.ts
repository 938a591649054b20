import WebSocket from 'ws';
import type { TestRuntime } from './local-runtime.ts';

/**
 * A cluster's connector that connects, says hello and then answers nothing: a cluster stuck on
 * a child (the creation stays `pending`). It records what the router sends it, so a test can see
 * the `child.create` it ignored and the `child.close` that ended it.
 */
export interface SilentCluster {
  readonly received: { type: string; sessionId?: string }[];
  close(): Promise<void>;
}

export async function silentCluster(runtime: TestRuntime, id: string): Promise<SilentCluster> {
  const url = new URL(runtime.wsUrl);
  url.searchParams.set('cluster', id);
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${runtime.clusterTokens[id]}` } });
  const received: SilentCluster['received'] = [];
  ws.on('message', (data) => {
    const m = JSON.parse(data.toString()) as { type: string; sessionId?: string };
    received.push(m);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ v: 1, type: 'hello', cluster: id, services: ['api'] }));
  return {
    received,
    close: () =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.close();
      }),
  };
}
