import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';

/**
 * `.switchyard/local.json`: where a running local router can be reached, with its tokens, so
 * the CLI, connectors and tests find it without flags. It holds secrets, hence mode 0600.
 */
export const LocalStateSchema = z.object({
  httpUrl: z.string(),
  wsUrl: z.string(),
  /** The @connections endpoint (SWITCHYARD_WS_ENDPOINT). */
  managementEndpoint: z.string(),
  region: z.string(),
  sqs: z.object({
    endpoint: z.string(),
    /** Queue URL of every configured queue, by queue name. */
    queues: z.record(z.string(), z.string()),
  }),
  dynamodb: z.object({ endpoint: z.string(), table: z.string() }),
  developerToken: z.string(),
  clusters: z.record(z.string(), z.object({ token: z.string() })),
  pid: z.number().int(),
  startedAt: z.string(),
  /** Where the table lives; null when it is in memory (--memory). */
  dataDir: z.string().nullable(),
  /** Router worker processes behind the port (`--replicas`); absent when one process runs everything. */
  replicas: z.number().int().positive().optional(),
});
export type LocalState = z.infer<typeof LocalStateSchema>;

/** The tokens of an earlier run, to hand out the same ones again. Only the tokens need to be readable. */
const PreviousTokensSchema = z.object({
  developerToken: z.string().optional(),
  clusters: z.record(z.string(), z.object({ token: z.string() })).optional(),
});
export type PreviousTokens = z.infer<typeof PreviousTokensSchema>;

export function readPreviousTokens(file: string): PreviousTokens {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return {};
  }
  try {
    const parsed = PreviousTokensSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

/**
 * The embedded SQS port of an earlier run, to listen on it again: queue URLs carry the port, and
 * the URLs of live sessions' output queues are stored and held by consumers.
 */
export function readPreviousSqsPort(file: string): number | undefined {
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as { sqs?: { endpoint?: unknown } };
    const endpoint = state.sqs?.endpoint;
    if (typeof endpoint !== 'string') return undefined;
    const port = Number(new URL(endpoint).port);
    return Number.isInteger(port) && port > 0 && port < 65536 ? port : undefined;
  } catch {
    return undefined;
  }
}

export function writeLocalState(file: string, state: LocalState): void {
  mkdirSync(dirname(file), { recursive: true });
  // Write then rename, so a reader never sees half a file; the mode is set before any secret lands.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(LocalStateSchema.parse(state), null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}
