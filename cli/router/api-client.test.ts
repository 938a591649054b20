import { execFile } from 'node:child_process';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestRuntime, type TestRuntime } from '../../test/helpers/local-runtime.ts';
import { exitCodeFor } from '../output/exit-codes.ts';
import { NotARouterError, RouterApi, TokenRefusedError } from './api-client.ts';

const BIN = join(import.meta.dirname, '../../bin/switchyard.js');

async function serve(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('RouterApi against something that is not a Switchyard router', () => {
  let app: { server: Server; url: string };
  let ingress: { server: Server; url: string };
  beforeAll(async () => {
    // An app that answers everything with a page, as a web app or a default backend does.
    app = await serve((_req, res) => {
      res.setHeader('content-type', 'text/html; charset=utf-8');
      res.end('<html><body>Welcome to my shop</body></html>');
    });
    // An ingress with nothing behind the path: 404 with JSON that is not Switchyard's.
    ingress = await serve((_req, res) => {
      res.statusCode = 404;
      res.setHeader('content-type', 'application/json');
      res.end('{"message":"no Route matched with those values"}');
    });
  });
  afterAll(() => {
    app.server.close();
    ingress.server.close();
  });

  it.each([
    {
      name: 'an app answering 200 with HTML',
      target: () => app.url,
      healthz: /200 text\/html: ".*Welcome to my shop/,
    },
    {
      name: 'an ingress answering 404 with its own JSON',
      target: () => ingress.url,
      healthz: /404 application\/json/,
    },
  ])(
    'says that $name does not look like a router, and what /healthz answered',
    async ({ target, healthz }) => {
      const api = new RouterApi({ httpUrl: target(), wsUrl: 'ws://unused', token: 'syd_x' });
      const err = await api.call('GET', '/v1/sessions').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NotARouterError);
      expect((err as Error).message).toContain(
        `${target()} does not look like a Switchyard router (/healthz answered`,
      );
      expect((err as Error).message).toMatch(healthz);
      expect(exitCodeFor((err as NotARouterError).code)).toBe(4);
    },
  );

  it('prints that from the command line, with no JavaScript internals, and exits 4', async () => {
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, 'sessions', '--router', app.url, '--token', 'syd_x'],
        { env: { ...process.env, SWITCHYARD_STATE_FILE: '' } },
        (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
    expect(run.stderr).toContain('does not look like a Switchyard router');
    expect(run.stderr).not.toMatch(/Cannot (destructure|read properties)/);
    expect(run.code).toBe(4);
  });
});

describe('RouterApi when the router refuses the token', () => {
  let runtime: TestRuntime;
  beforeAll(async () => {
    runtime = await startTestRuntime();
  });
  afterAll(async () => {
    await runtime?.stop();
  });

  it('names --token or SWITCHYARD_TOKEN and says how to get a new one', async () => {
    for (const source of ['--token', 'SWITCHYARD_TOKEN'] as const) {
      const api = new RouterApi({
        httpUrl: runtime.httpUrl,
        wsUrl: runtime.wsUrl,
        token: 'syd_stale',
        tokenSource: source,
      });
      const err = await api.call('GET', '/v1/sessions').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TokenRefusedError);
      const message = (err as Error).message;
      expect(message).toContain(`${runtime.httpUrl} refused the token from ${source}`);
      expect(message).toContain('switchyard token create --developer');
      expect(message).not.toContain('Authorization: Bearer');
      expect(message).not.toContain('syd_stale');
      expect(exitCodeFor((err as TokenRefusedError).code)).toBe(5);
    }
  });

  it('names the state file when the token came from it, and says to restart the local router', async () => {
    const file = join(runtime.dir, 'local.json');
    const api = new RouterApi({
      httpUrl: runtime.httpUrl,
      wsUrl: runtime.wsUrl,
      token: 'syd_old',
      tokenSource: { file },
    });
    const message = await api.call('GET', '/v1/sessions').catch((e: Error) => e.message);
    expect(message).toContain(`refused the token from ${file}`);
    expect(message).toContain('npm start');
  });

  it('refuses a cluster token for the developer API, naming where it came from', async () => {
    const api = new RouterApi({
      httpUrl: runtime.httpUrl,
      wsUrl: runtime.wsUrl,
      token: runtime.clusterTokens.east!,
      tokenSource: 'SWITCHYARD_TOKEN',
    });
    const err = await api.call('GET', '/v1/sessions').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TokenRefusedError);
    expect((err as Error).message).toMatch(
      /refused the token from SWITCHYARD_TOKEN \(a cluster token cannot use the developer API/,
    );
  });

  it('still answers with the router’s data when the token is good', async () => {
    const api = new RouterApi({
      httpUrl: runtime.httpUrl,
      wsUrl: runtime.wsUrl,
      token: runtime.developerToken,
    });
    expect(await api.call<{ sessions: unknown[] }>('GET', '/v1/sessions')).toEqual({ sessions: [] });
  });
});
