import type { Command } from 'commander';

// Placeholder: token administration lands with the deployment work.
export function registerToken(_program: Command): void {}
