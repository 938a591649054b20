import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../helpers/local-runtime.ts';
import { BIN } from './harness.ts';

export interface ConnectorProcess {
  child: ChildProcess;
  ingressUrl: string;
  adminUrl: string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  readyz(): Promise<{ status: number; body: ReadyzBody }>;
}

export interface ReadyzBody {
  ready: boolean;
  phase: string;
  detail: string;
  router: { state: string; reason?: string; refused?: { status: number; code: string } };
}

/**
 * `switchyard connector` as a child process (signals matter), fronting one `api` service.
 * Admin and ingress ports are picked free and read from what the command prints.
 */
export async function startConnectorProcess(opts: {
  dir: string;
  name: string;
  router: string;
  cluster: string;
  tokenFile: string;
  upstream: string;
  drainMs?: number;
  graceMs?: number;
  requestDeadlineMs?: number;
}): Promise<ConnectorProcess> {
  const configFile = join(opts.dir, `${opts.name}.json`);
  writeFileSync(
    configFile,
    JSON.stringify({
      services: [{ name: 'api', ingress: { port: 0, host: '127.0.0.1' }, upstream: opts.upstream }],
      admin: { port: 0, host: '127.0.0.1' },
      requestDeadlineMs: opts.requestDeadlineMs ?? 2_000,
      shutdown: { drainMs: opts.drainMs ?? 1_000, graceMs: opts.graceMs ?? 4_000 },
    }),
  );
  const child = spawn(
    process.execPath,
    [
      BIN,
      'connector',
      '--router',
      opts.router,
      '--cluster',
      opts.cluster,
      '--config',
      configFile,
      '--token-file',
      opts.tokenFile,
    ],
    {
      env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr!.on('data', (d) => {
    err += d;
    if (process.env.SWITCHYARD_TEST_LOG) process.stderr.write(`[${opts.name}] ${d}`);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal, at: Date.now() })),
  );
  const ports = await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`connector ${opts.name} exited:\n${err}`);
      const ingress = err.match(/service api ingress on port (\d+)/)?.[1];
      const admin = err.match(/admin \(\/healthz, \/readyz, \/metrics\) on port (\d+)/)?.[1];
      return ingress && admin ? { ingress, admin } : undefined;
    },
    20_000,
    `connector ${opts.name} to listen`,
  );
  const adminUrl = `http://127.0.0.1:${ports.admin}`;
  return {
    child,
    ingressUrl: `http://127.0.0.1:${ports.ingress}`,
    adminUrl,
    stderr: () => err,
    exited,
    async readyz() {
      const res = await fetch(`${adminUrl}/readyz`);
      return { status: res.status, body: (await res.json()) as ReadyzBody };
    },
  };
}

export function killConnector(p: ConnectorProcess): Promise<unknown> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return Promise.resolve();
  p.child.kill('SIGKILL');
  return p.exited;
}

export interface RequestRecord {
  start: number;
  end: number;
  ok: boolean;
  servedBy?: string;
  error?: string;
}

/**
 * Requests in a loop from `workers` concurrent keep-alive clients, until stopped: what a
 * service's callers do while a replica is rolled or killed.
 */
export function requestLoop(url: () => string, workers = 4, headers: Record<string, string> = {}) {
  const records: RequestRecord[] = [];
  let stopped = false;
  const worker = async () => {
    while (!stopped) {
      const start = Date.now();
      try {
        const res = await fetch(url(), { headers, signal: AbortSignal.timeout(5_000) });
        const text = await res.text();
        records.push({
          start,
          end: Date.now(),
          ok: res.status === 200,
          servedBy: res.headers.get('x-served-by') ?? undefined,
          ...(res.status === 200 ? {} : { error: `HTTP ${res.status}: ${text.slice(0, 80)}` }),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code;
        records.push({
          start,
          end: Date.now(),
          ok: false,
          error: `${(err as Error).message} ${cause ?? ''}`,
        });
      }
    }
  };
  const running = Promise.all(Array.from({ length: workers }, worker));
  return {
    records,
    async stop(): Promise<RequestRecord[]> {
      stopped = true;
      await running;
      return records;
    },
  };
}
