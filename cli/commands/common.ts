import { type Command, Option } from 'commander';
import { RouterApi } from '../router/api-client.ts';
import { resolveRouter } from '../router/local-state.ts';

export interface RouterOpts {
  router?: string;
  ws?: string;
  token?: string;
}

/** --router, --ws and --token on every command that talks to the router. */
export function withRouterOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--router <url>',
        'router HTTP URL (default: SWITCHYARD_ROUTER, else .switchyard/local.json)',
      ),
    )
    .addOption(new Option('--ws <url>', 'router WebSocket URL (default: derived from --router)'))
    .addOption(
      new Option(
        '--token <token>',
        'developer token (default: SWITCHYARD_TOKEN, else .switchyard/local.json)',
      ),
    );
}

export function apiFrom(opts: RouterOpts): RouterApi {
  return new RouterApi(resolveRouter(opts));
}

/** Repeated `--flag a --flag b` collected into an array. */
export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function parsePort(value: string, what = 'port'): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new Error(`${what} must be a number from 1 to 65535, got '${value}'`);
  return n;
}

/** `name=value` pairs (the value may contain '='). */
export function parsePairs(pairs: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const i = p.indexOf('=');
    if (i < 1) throw new Error(`${flag} takes name=value, got '${p}'`);
    out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}
