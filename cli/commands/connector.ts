import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { collectDatabases } from '../../connector/branches/config.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { DEFAULT_ADMIN_PORT, loadConnectorConfig, parseConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { serveConnector } from '../../connector/lifecycle/lifecycle.ts';
import { resolveReplicaId } from '../../connector/replica-id.ts';
import { wholeNumber } from './whole-number.ts';

interface ConnectorFlags {
  router: string;
  cluster: string;
  config: string;
  token?: string;
  tokenFile?: string;
  adminPort?: number;
  drainMs?: number;
  graceMs?: number;
  replicaId?: string;
}

/**
 * The token as of now. A file is read again on every dial, so a Secret rotated in place is
 * picked up without a restart; a file that cannot be read keeps the last token it gave.
 */
function tokenSource(opts: ConnectorFlags): () => string {
  const given = opts.token ?? (opts.tokenFile ? undefined : process.env.SWITCHYARD_TOKEN);
  if (given) return () => given;
  if (!opts.tokenFile)
    throw new Error('no cluster token: pass --token-file <file>, set SWITCHYARD_TOKEN, or --token');
  const file = opts.tokenFile;
  let last = readFileSync(file, 'utf8').trim();
  if (!last) throw new Error(`the token file ${file} is empty`);
  return () => {
    try {
      last = readFileSync(file, 'utf8').trim() || last;
    } catch {}
    return last;
  };
}

export function registerConnector(program: Command): void {
  program
    .command('connector')
    .description("run a cluster's connector: dials out to the router and serves its sessions")
    .requiredOption('--router <url>', 'router WebSocket URL (wss://… on AWS, ws://127.0.0.1:8787/ws locally)')
    .requiredOption('--cluster <id>', 'this cluster’s id in the topology')
    .requiredOption('--config <file>', 'connector config (services, files, outgoing allow-list, databases)')
    .option(
      '--token <token>',
      'cluster token (prefer --token-file or SWITCHYARD_TOKEN: arguments show in ps)',
    )
    .option(
      '--token-file <file>',
      'read the cluster token from this file (a mounted Secret; re-read on reconnect)',
    )
    .option(
      '--replica-id <id>',
      'this replica’s id, stable across reconnects (default: SWITCHYARD_REPLICA_ID, POD_NAME, HOSTNAME, else random)',
    )
    .addOption(
      new Option(
        '--admin-port <port>',
        `port of /healthz, /readyz and /metrics (default: the config's admin.port, else ${DEFAULT_ADMIN_PORT}; 0 picks a free one)`,
      )
        .env('SWITCHYARD_ADMIN_PORT')
        .argParser(wholeNumber('--admin-port', 0, 65535)),
    )
    .addOption(
      new Option('--drain-ms <ms>', 'on SIGTERM, how long to stay up not-ready while endpoints update')
        .env('SWITCHYARD_DRAIN_MS')
        .argParser(wholeNumber('--drain-ms', 0, 300_000)),
    )
    .addOption(
      new Option(
        '--grace-ms <ms>',
        'on SIGTERM, the most time until exit (keep under the pod’s grace period)',
      )
        .env('SWITCHYARD_GRACE_MS')
        .argParser(wholeNumber('--grace-ms', 1_000, 3_600_000)),
    )
    .action(async (opts: ConnectorFlags) => {
      const token = tokenSource(opts);
      const file = loadConnectorConfig(opts.config);
      // Flags win over the file; the merged config is checked again (drain < grace, ports apart).
      const config = parseConnectorConfig(
        {
          ...file,
          admin: { ...file.admin, ...(opts.adminPort !== undefined ? { port: opts.adminPort } : {}) },
          shutdown: {
            ...file.shutdown,
            ...(opts.drainMs !== undefined ? { drainMs: opts.drainMs } : {}),
            ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
          },
        },
        `${opts.config} with the command's flags`,
      );
      const log = (line: Record<string, unknown>) =>
        process.stderr.write(`${JSON.stringify({ cluster: opts.cluster, ...line })}\n`);
      const databases = collectDatabases(config.services);
      const connector = new Connector({
        router: opts.router,
        cluster: opts.cluster,
        token,
        config,
        log,
        replicaId: resolveReplicaId(opts.replicaId),
        // Database branching, when the config declares databases (the default cluster's job).
        extensions: databases.length ? [branchExtension({ databases })] : [],
      });
      const served = await serveConnector(connector, config, log);
      for (const [service, port] of Object.entries(connector.ports)) {
        process.stderr.write(
          `connector ${opts.cluster} (replica ${connector.replicaId}): service ${service} ingress on port ${port}\n`,
        );
      }
      process.stderr.write(
        `connector ${opts.cluster}: admin (/healthz, /readyz, /metrics) on port ${served.adminPort}\n`,
      );
      let signals = 0;
      const stop = () => {
        // A second signal does not wait for the drain.
        if (++signals > 1) process.exit(1);
        served.shutdown().then(
          () => process.exit(0),
          (err) => {
            log({ level: 'ERROR', message: 'shutdown failed', error: String(err) });
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
}
