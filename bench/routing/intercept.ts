import { answerRequest, type Req } from '../../cli/commands/intercept.ts';
import { RouterApi } from '../../cli/router/api-client.ts';
import { SessionEnding } from '../../cli/session/ending.ts';
import { createSession, SessionConnection } from '../../cli/session/session-client.ts';
import type { LocalRuntime } from '../../infra/local/runtime.ts';

const quiet = { step() {}, info() {}, warn() {} };

/**
 * `switchyard intercept api --to <port> --header x-dev=^bench$`, in this process: the same session
 * client and the same per-request work as the CLI (call the local app, send back a `response`),
 * minus the line it prints per request.
 */
export async function startIntercept(
  runtime: LocalRuntime,
  appPort: number,
): Promise<{ sessionId: string; stop(): Promise<void> }> {
  const api = new RouterApi({
    httpUrl: runtime.httpUrl,
    wsUrl: runtime.wsUrl,
    token: runtime.developerToken,
  });
  // No signal handlers in a benchmark process: `stop()` ends the session.
  const ending = new SessionEnding(api, quiet);
  const session = await createSession(api, { service: 'api', label: 'bench' }, quiet, ending);
  const conn = new SessionConnection(runtime.wsUrl, runtime.developerToken, session.id);
  // Exactly what `switchyard intercept` does per request, without printing a line.
  conn.on('request', (r: Req) => void answerRequest(conn, appPort, r));
  await conn.start();
  await conn.subscribe({
    subId: 'bench',
    service: 'api',
    mode: 'steal',
    filter: { headers: { 'x-dev': '^bench$' } },
  });
  return {
    sessionId: session.id,
    async stop() {
      conn.stop();
      await ending.end().catch(() => {});
    },
  };
}
