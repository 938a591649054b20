import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childrenOf } from './proc.ts';

export const NGINX_INSTALL = 'apt-get update && apt-get install -y nginx-light';

export interface Nginx {
  port: number;
  /** The master process. */
  pid: number;
  /** The one worker process, which does the proxying. */
  workerPid: number;
  stop(): void;
}

function findNginx(): string | undefined {
  for (const candidate of ['nginx', '/usr/sbin/nginx']) {
    if (spawnSync(candidate, ['-v']).status === 0) return candidate;
  }
  return undefined;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

/**
 * nginx as a reverse proxy tuned as a platform team would run it for this comparison: one
 * worker, upstream keep-alive, no access log; undefined when nginx is not installed.
 */
export async function startNginx(upstreamPort: number): Promise<Nginx | undefined> {
  const bin = findNginx();
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-nginx-'));
  const port = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream service { server 127.0.0.1:${upstreamPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    location / {
      proxy_pass http://service;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let workerPid: number | undefined;
  for (let i = 0; i < 100 && workerPid === undefined; i++) {
    await new Promise((r) => setTimeout(r, 50));
    workerPid = childrenOf(child.pid!)[0];
  }
  if (workerPid === undefined) {
    child.kill();
    throw new Error('nginx started no worker');
  }
  return {
    port,
    pid: child.pid!,
    workerPid,
    stop() {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
