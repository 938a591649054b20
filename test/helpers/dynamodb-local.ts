import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type LocalDynamo, localClient } from './dynalite.ts';

/**
 * AWS's own DynamoDB Local (the jar shipped inside the `amplify-dynamodb-simulator` package), run
 * with the machine's Java as a second, real-semantics backend for the store's contract tests.
 */

/** Set to `1` to skip DynamoDB Local where no Java is installed; otherwise its absence fails the run. */
export const SKIP_ENV = 'SWITCHYARD_SKIP_DYNAMODB_LOCAL';

export type Availability =
  | { ok: true; java: string; jar: string; libDir: string }
  | { ok: false; reason: string };

function emulatorDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('amplify-dynamodb-simulator/package.json');
    return join(dirname(pkg), 'emulator');
  } catch {
    return undefined;
  }
}

/** Whether Java and the jar are there, and if not, why (said in full, so CI logs explain themselves). */
export function dynamoDbLocalAvailability(): Availability {
  const dir = emulatorDir();
  const jar = dir && join(dir, 'DynamoDBLocal.jar');
  const libDir = dir && join(dir, 'DynamoDBLocal_lib');
  if (!jar || !libDir || !existsSync(jar) || !existsSync(libDir)) {
    return {
      ok: false,
      reason: 'DynamoDBLocal.jar not found: is the amplify-dynamodb-simulator dev dependency installed?',
    };
  }
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const probe = spawnSync(java, ['-version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return {
      ok: false,
      reason: `no working Java (${probe.error?.message ?? `exit ${probe.status}`}): DynamoDB Local needs Java 17+`,
    };
  }
  return { ok: true, java, jar, libDir };
}

/** True when DynamoDB Local is missing AND the environment asked to skip it. */
export function skipDynamoDbLocal(): { skip: boolean; reason?: string } {
  const a = dynamoDbLocalAvailability();
  if (a.ok) return { skip: false };
  if (process.env[SKIP_ENV] === '1') return { skip: true, reason: a.reason };
  return { skip: false, reason: a.reason };
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const running = new Set<ChildProcess>();
// A crashed test run must not leave a 260 MB JVM behind.
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

async function waitUntilAnswering(local: LocalDynamo, proc: ChildProcess, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`DynamoDB Local exited with code ${proc.exitCode}`);
    try {
      await local.client.send(new ListTablesCommand({}));
      return;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`DynamoDB Local did not answer within ${ms} ms: ${String(last)}`);
}

/**
 * Starts DynamoDB Local in memory on a free port and waits until it answers. The port is found by
 * binding port 0 first; another process could grab it before Java binds it, so a start that dies
 * is retried on a new port.
 */
export async function startDynamoDbLocal(): Promise<LocalDynamo> {
  const a = dynamoDbLocalAvailability();
  if (!a.ok) {
    throw new Error(
      `DynamoDB Local is required for the store contract tests but ${a.reason}. Install Java 17, or set ${SKIP_ENV}=1 to skip these tests.`,
    );
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const proc = spawn(
      a.java,
      [
        `-Djava.library.path=${a.libDir}`,
        '-jar',
        a.jar,
        '-inMemory',
        '-disableTelemetry',
        '-port',
        String(port),
      ],
      { cwd: dirname(a.jar), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    running.add(proc);
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const endpoint = `http://127.0.0.1:${port}`;
    const client = localClient(endpoint);
    const stop = async () => {
      client.destroy();
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      running.delete(proc);
    };
    const local: LocalDynamo = { endpoint, client, stop };
    try {
      await waitUntilAnswering(local, proc, 30_000);
      return local;
    } catch (err) {
      lastError = new Error(`${(err as Error).message}${stderr ? `\n${stderr}` : ''}`);
      await stop();
    }
  }
  throw lastError;
}
