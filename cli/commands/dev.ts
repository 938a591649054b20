import { relative } from 'node:path';
import { type Command, Option } from 'commander';
import {
  DEFAULT_CONFIG_FILE,
  DEFAULT_DATA_DIR,
  DEFAULT_PORT,
  DEFAULT_STATE_FILE,
  DEMO_REPLICAS_PER_CLUSTER,
} from '../../infra/local/defaults.ts';
import type { LocalRuntime, LocalRuntimeOptions } from '../../infra/local/runtime.ts';
import { wholeNumber } from './whole-number.ts';

/**
 * Every flag of `switchyard dev`. Features that add flags add them here and read them in
 * `devRuntimeOptions`; the whole set is passed on, so nothing needs rewiring in between.
 */
export interface DevFlags {
  config: string;
  settings?: string;
  port: number;
  dataDir: string;
  memory?: boolean;
  stateFile: string;
  batchSize?: number;
  batchWindow?: number;
  demo?: boolean;
  demoReplicas?: number;
  replicas?: number;
  [flag: string]: unknown;
}

export function registerDev(program: Command): Command {
  return program
    .command('dev')
    .description(
      'run the router locally: embedded DynamoDB and SQS, the HTTP API, the WebSocket API (API Gateway emulation), the splitter and the reconciler',
    )
    .option('--config <file>', 'topology file', DEFAULT_CONFIG_FILE)
    .option('--settings <file>', 'router settings file (JSON: lease, heartbeat, reconcile durations)')
    .addOption(
      new Option('--port <port>', 'HTTP and WebSocket port on 127.0.0.1 (0 picks a free one)')
        .env('SWITCHYARD_PORT')
        .default(DEFAULT_PORT)
        .argParser(wholeNumber('--port', 0, 65535)),
    )
    .option('--data-dir <dir>', 'where the table is kept between runs', DEFAULT_DATA_DIR)
    .option('--memory', 'keep the table in memory: nothing survives a restart')
    .option(
      '--demo',
      'also start demo clusters on loopback: a connector per cluster in front of a small "api" service, an orders consumer, and a Postgres database to branch when one is reachable',
    )
    .addOption(
      new Option(
        '--demo-replicas <n>',
        `connectors per demo cluster, behind a balancer that stands for the Service (default ${DEMO_REPLICAS_PER_CLUSTER})`,
      ).argParser(wholeNumber('--demo-replicas', 1, 8)),
    )
    .addOption(
      new Option('--state-file <file>', 'where to write endpoints and local tokens')
        .env('SWITCHYARD_STATE_FILE')
        .default(DEFAULT_STATE_FILE),
    )
    .addOption(
      new Option('--batch-size <n>', 'SQS records per splitter invocation (default 10)').argParser(
        wholeNumber('--batch-size', 1, 10_000),
      ),
    )
    .addOption(
      new Option(
        '--replicas <n>',
        'run n router workers behind the port (one holds the lease, the others stand by; a worker that dies is started again and its connections resume on the others)',
      ).argParser(wholeNumber('--replicas', 1, 32)),
    )
    .addOption(
      new Option(
        '--batch-window <ms>',
        'how long to gather SQS records before invoking (default 0)',
      ).argParser(wholeNumber('--batch-window', 0, 300_000)),
    )
    .action(async (flags: DevFlags) => {
      await runDev(flags);
    });
}

export function devRuntimeOptions(flags: DevFlags): LocalRuntimeOptions {
  return {
    configFile: flags.config,
    ...(flags.settings ? { settingsFile: flags.settings } : {}),
    port: flags.port,
    dataDir: flags.dataDir,
    memory: flags.memory === true,
    stateFile: flags.stateFile,
    poller: {
      ...(flags.batchSize !== undefined ? { batchSize: flags.batchSize } : {}),
      ...(flags.batchWindow !== undefined ? { batchWindowMs: flags.batchWindow } : {}),
    },
  };
}

export async function runDev(flags: DevFlags): Promise<LocalRuntime> {
  // Loaded here, not at the top: the embedded services are heavy and other commands need none of them.
  const replicas = flags.replicas;
  const starting: Promise<LocalRuntime> =
    replicas === undefined
      ? import('../../infra/local/runtime.ts').then(({ startLocalRuntime }) =>
          startLocalRuntime(devRuntimeOptions(flags)),
        )
      : import('../../infra/local/replicas/primary.ts').then(({ startReplicatedRuntime }) =>
          startReplicatedRuntime({ ...devRuntimeOptions(flags), replicas }),
        );

  // Installed before anything is announced, so a Ctrl-C at any moment (even during start-up)
  // stops every part cleanly: LevelDB is flushed only by a clean stop.
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals): void => {
    // A second Ctrl-C does not wait for a clean stop.
    if (++signals > 1) process.exit(1);
    process.stderr.write(`\n${signal}: stopping…\n`);
    starting
      .then((runtime) => runtime.stop())
      .then(
        () => process.exit(0),
        (err) => {
          process.stderr.write(`switchyard: stopping failed: ${(err as Error).message}\n`);
          process.exit(1);
        },
      );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  const runtime = await starting;
  process.stdout.write(banner(runtime, Math.round(performance.now())));
  if (flags.demo) {
    const { startDemo, demoBanner } = await import('../../infra/local/demo.ts');
    const { consoleLog } = await import('../../infra/local/log.ts');
    const demo = await startDemo(
      runtime,
      consoleLog,
      flags.demoReplicas !== undefined ? { replicasPerCluster: flags.demoReplicas } : {},
    );
    process.stdout.write(`${demoBanner(demo)}\n\n`);
    const stop = runtime.stop;
    runtime.stop = async () => {
      await demo.stop();
      await stop();
    };
  }
  return runtime;
}

const shown = (file: string): string => {
  const rel = relative(process.cwd(), file);
  return rel.startsWith('..') ? file : rel;
};

/** What a developer needs to start using the router; the developer token is theirs to see. */
export function banner(rt: LocalRuntime, readyAfterMs: number): string {
  const clusters = rt.topology.clusters.map((c) => `${c.id} (${c.roles.join(', ')})`).join(', ');
  const sources = rt.queues.filter((q) => q.role === 'source').length;
  const lines = [
    `switchyard dev: local router ready in ${readyAfterMs} ms (runtime ${rt.startupMs} ms)`,
    '',
    `  HTTP API          ${rt.httpUrl}`,
    `  WebSocket         ${rt.wsUrl}`,
    `  @connections      ${rt.managementEndpoint}`,
    `  DynamoDB          ${rt.dynamodbEndpoint}  table ${rt.tableName}, ${rt.dataDir ? `kept in ${shown(rt.dataDir)}` : 'in memory'}`,
    `  SQS               ${rt.sqsEndpoint}  ${rt.queues.length} queues (in memory), splitter polls ${sources}`,
    `  Region            ${rt.region}`,
    ...replicasLine(rt),
    `  Clusters          ${clusters}`,
    `  Developer token   ${rt.developerToken}`,
    rt.stateFile
      ? `  Endpoints, tokens ${shown(rt.stateFile)} (cluster tokens for connectors are there)`
      : '',
    '',
    'Try it:',
    `  curl -H "Authorization: Bearer ${rt.developerToken}" ${rt.httpUrl}/v1/clusters`,
    '',
    'Ctrl-C stops it.',
    '',
  ];
  return lines.filter((l, i) => l !== '' || lines[i - 1] !== '').join('\n');
}

/** With --replicas: how many workers share the port, and their pids. */
function replicasLine(rt: LocalRuntime): string[] {
  const r = rt as LocalRuntime & { replicas?: number; workers?: () => { pid: number }[] };
  if (r.replicas === undefined || !r.workers) return [];
  const pids = r.workers().map((w) => w.pid);
  return [
    `  Replicas          ${r.replicas} router workers (pids ${pids.join(', ')}); one leads the duties, a dead one is started again`,
  ];
}
