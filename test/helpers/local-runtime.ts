import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { consoleLog, silentLog } from '../../infra/local/log.ts';
import { type LocalRuntime, type LocalRuntimeOptions, startLocalRuntime } from '../../infra/local/runtime.ts';

/** Two clusters, a standard queue pair on one and a FIFO pair on the other. */
export const TEST_TOPOLOGY = {
  region: 'us-east-1',
  clusters: [
    {
      id: 'east',
      roles: ['primary', 'workload', 'default'],
      queues: [{ name: 'orders', source: 'east-orders', fallback: 'east-orders-fallback' }],
    },
    {
      id: 'west',
      roles: ['workload'],
      region: 'us-west-2',
      queues: [{ name: 'payments', source: 'west-payments.fifo', fallback: 'west-payments-fallback.fifo' }],
    },
  ],
};

export interface TestRuntime extends LocalRuntime {
  /** The temp directory holding local.json (and the data dir unless --memory). */
  dir: string;
}

/**
 * Starts the local runtime for a test: free port, throwaway state in memory, local.json in a
 * temp directory, quiet logs (SWITCHYARD_TEST_LOG=1 shows them), the test topology unless one
 * is given. Pass `dir` (and `memory: false`) to start again on the state of an earlier run.
 * `stop()` also removes the temp directory when the helper created it.
 */
export async function startTestRuntime(
  options: LocalRuntimeOptions & { dir?: string } = {},
): Promise<TestRuntime> {
  const { dir: givenDir, ...rest } = options;
  const dir = givenDir ?? mkdtempSync(join(tmpdir(), 'switchyard-local-'));
  try {
    const runtime = await startLocalRuntime({
      memory: true,
      port: 0,
      stateFile: join(dir, 'local.json'),
      dataDir: join(dir, 'data'),
      log: process.env.SWITCHYARD_TEST_LOG ? consoleLog : silentLog,
      ...(rest.configFile === undefined && rest.topology === undefined ? { topology: TEST_TOPOLOGY } : {}),
      ...rest,
    });
    const stop = runtime.stop;
    return Object.assign(runtime, {
      dir,
      async stop() {
        await stop();
        if (!givenDir) rmSync(dir, { recursive: true, force: true });
      },
    });
  } catch (err) {
    if (!givenDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Resolves once `check` returns a value other than undefined/false; fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 10_000,
  what = 'the condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
