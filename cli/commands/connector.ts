import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { collectDatabases } from '../../connector/branches/config.ts';
import { branchExtension } from '../../connector/branches/extension.ts';
import { loadConnectorConfig } from '../../connector/config.ts';
import { Connector } from '../../connector/connector.ts';
import { resolveReplicaId } from '../../connector/replica-id.ts';

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
    .option('--token-file <file>', 'read the cluster token from this file (a mounted Secret)')
    .option(
      '--replica-id <id>',
      'this replica’s id, stable across reconnects (default: SWITCHYARD_REPLICA_ID, POD_NAME, HOSTNAME, else random)',
    )
    .action(
      async (opts: {
        router: string;
        cluster: string;
        config: string;
        token?: string;
        tokenFile?: string;
        replicaId?: string;
      }) => {
        const token =
          opts.token ??
          (opts.tokenFile ? readFileSync(opts.tokenFile, 'utf8').trim() : process.env.SWITCHYARD_TOKEN);
        if (!token)
          throw new Error('no cluster token: pass --token-file <file>, set SWITCHYARD_TOKEN, or --token');
        const config = loadConnectorConfig(opts.config);
        const databases = collectDatabases(config.services);
        const connector = new Connector({
          router: opts.router,
          cluster: opts.cluster,
          token,
          config,
          replicaId: resolveReplicaId(opts.replicaId),
          // Database branching, when the config declares databases (the default cluster's job).
          extensions: databases.length ? [branchExtension({ databases })] : [],
        });
        connector.peer.on('fatal', () => process.exit(1));
        await connector.start();
        for (const [service, port] of Object.entries(connector.ports)) {
          process.stderr.write(
            `connector ${opts.cluster} (replica ${connector.replicaId}): service ${service} ingress on port ${port}\n`,
          );
        }
        const stop = () => connector.stop().then(() => process.exit(0));
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      },
    );
}
