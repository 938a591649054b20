import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';

/**
 * dynalite in a process of its own, on a free loopback port: DynamoDB's own work (parsing,
 * LevelDB in memory, answering) no longer shares the router's thread, as on AWS, where DynamoDB
 * is other machines. The router still pays its side of every call (the SDK, its HTTP client).
 */
export interface DynaliteProcess {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startDynaliteProcess(): Promise<DynaliteProcess> {
  const entry = createRequire(import.meta.url).resolve('dynalite');
  const script = `
    const server = require(${JSON.stringify(entry)})({ createTableMs: 0 });
    server.listen(0, '127.0.0.1', () => process.send(server.address().port));
    process.on('disconnect', () => process.exit(0));
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (m) => resolve(Number(m)));
    child.once('exit', (code) => reject(new Error(`dynalite's process exited (${code}) before listening`)));
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      child.kill();
      await exited;
    },
  };
}
