import type { ConnectorConfig } from '../config.ts';
import type { Connector } from '../connector.ts';
import { AdminServer, type Phase } from './admin-server.ts';
import type { GracefulServer } from './graceful-server.ts';
import { connectorMetrics } from './metrics.ts';
import { runShutdown, type ShutdownResult } from './shutdown.ts';

export interface ServedConnector {
  connector: Connector;
  adminPort: number;
  readonly phase: Phase;
  /** The SIGTERM sequence (drain, finish, goodbye); runs once, later calls get the same result. */
  shutdown(): Promise<ShutdownResult>;
  /** Stops at once, without the drain (a developer's Ctrl-C on a local run). */
  close(): Promise<void>;
}

type Log = (line: Record<string, unknown>) => void;

/**
 * Runs a connector with its admin port and its shutdown: the admin server is up first (so a
 * liveness probe answers during start-up), readiness turns true once every ingress listens.
 * Signals are the caller's business (`switchyard connector` wires SIGTERM and SIGINT).
 */
export async function serveConnector(
  connector: Connector,
  lifecycle: Pick<ConnectorConfig, 'admin' | 'shutdown'>,
  log: Log,
): Promise<ServedConnector> {
  let phase: Phase = 'starting';
  const metrics = connectorMetrics(
    {
      services: () => connector.ingresses.map((i) => ({ name: i.service.name, stats: i.stats })),
      sessions: () => connector.sessionCount,
      router: () => connector.link.status,
      phase: () => phase,
      refusedAnswers: () => connector.refusedAnswers,
    },
    { cluster: connector.cluster, replica: connector.replicaId },
  );
  const admin = new AdminServer(() => ({ phase, router: connector.link.status }), metrics);
  const adminPort = await admin.listen(lifecycle.admin.port, lifecycle.admin.host);
  try {
    await connector.start();
  } catch (err) {
    await admin.close();
    throw err;
  }
  phase = 'serving';
  const servers = (): GracefulServer[] =>
    connector.ingresses.flatMap((i) => (i.graceful ? [i.graceful] : []));
  let stopping: Promise<ShutdownResult> | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    phase = 'stopping';
    closing ??= connector.stop().then(() => admin.close());
    return closing;
  };
  return {
    connector,
    adminPort,
    get phase() {
      return phase;
    },
    shutdown() {
      stopping ??= runShutdown(
        {
          drain: () => {
            phase = 'draining';
            for (const s of servers()) s.drain();
          },
          stopAccepting: () => {
            for (const s of servers()) s.stopAccepting();
          },
          handBackStolen: (ms) => connector.handBackStolen(ms),
          settled: () => Promise.all(servers().map((s) => s.settled())).then(() => undefined),
          forceClose: () => {
            for (const s of servers()) s.destroyAll();
          },
          leave: close,
        },
        lifecycle.shutdown,
        log,
      );
      return stopping;
    },
    close,
  };
}
