import type { Command } from 'commander';

// Placeholder: the local runtime command lands with infra/local.
export function registerDev(program: Command): void {
  program.command('dev').description('run the router locally on an embedded DynamoDB and SQS');
}
