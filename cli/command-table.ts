import type { Command } from 'commander';

/**
 * Every top-level command, by name, with its one-line description and how to load it.
 *
 * `switchyard --help` and `--version` read only this table: no command module is imported, so
 * they answer in the time Node takes to start. A command's module is imported only when that
 * command runs, so `intercept` never loads the AWS SDK and `sessions` never loads `pg`. The
 * descriptions repeat the modules' own (a test holds the two equal).
 */
export interface CommandEntry {
  name: string;
  description: string;
  /** Registers this command (and the module's other commands) on the program. */
  load: () => Promise<(program: Command) => unknown>;
}

const dev = async () => (await import('./commands/dev.ts')).registerDev;
const intercept = async () => (await import('./commands/intercept.ts')).registerIntercept;
const stateful = async () => (await import('./commands/stateful.ts')).registerStateful;
const sessions = async () => (await import('./commands/sessions.ts')).registerSessions;
const split = async () => (await import('./commands/split.ts')).registerSplit;
const branch = async () => (await import('./commands/branch.ts')).registerBranch;
const connector = async () => (await import('./commands/connector.ts')).registerConnector;
const token = async () => (await import('./commands/token.ts')).registerToken;

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'dev',
    description:
      'run the router locally: embedded DynamoDB and SQS, the HTTP API, the WebSocket API (API Gateway emulation), the splitter and the reconciler',
    load: dev,
  },
  {
    name: 'intercept',
    description: 'get a service’s traffic from every workload cluster on a local port',
    load: intercept,
  },
  { name: 'env', description: 'print a service’s environment from the default cluster', load: stateful },
  {
    name: 'exec',
    description: 'run a command with a service’s environment from the default cluster',
    load: stateful,
  },
  { name: 'resolve', description: 'resolve a host name with the default cluster’s DNS', load: stateful },
  {
    name: 'connect',
    description: 'tunnel local TCP connections to host:port through the default cluster',
    load: stateful,
  },
  { name: 'sessions', description: 'your sessions: list them, end a stray one', load: sessions },
  {
    name: 'split',
    description:
      'receive the messages of a queue that match a filter, from every cluster, on one output queue',
    load: split,
  },
  { name: 'branch', description: 'private copies of the default cluster’s databases', load: branch },
  {
    name: 'connector',
    description: "run a cluster's connector: dials out to the router and serves its sessions",
    load: connector,
  },
  {
    name: 'token',
    description: 'create, revoke and list bearer tokens (developers and cluster connectors)',
    load: token,
  },
];
