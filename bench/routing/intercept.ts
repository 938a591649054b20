import { callLocal } from '../../cli/commands/intercept.ts';
import { RouterApi } from '../../cli/router/api-client.ts';
import { createSession, SessionConnection } from '../../cli/session/session-client.ts';
import type { LocalRuntime } from '../../infra/local/runtime.ts';

const quiet = { step() {}, info() {}, warn() {} };

type Req = Parameters<typeof callLocal>[1];

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
  const session = await createSession(api, { service: 'api', label: 'bench' }, quiet);
  const conn = new SessionConnection(runtime.wsUrl, runtime.developerToken, session.id);
  conn.on('request', async (r: Req) => {
    const answer = await callLocal(appPort, r);
    if (r.mode !== 'steal') return;
    conn.send(
      answer
        ? {
            type: 'response',
            requestId: r.requestId,
            status: answer.status,
            headers: answer.headers,
            body: answer.body.toString('base64'),
          }
        : { type: 'response', requestId: r.requestId, status: 502, headers: {}, fallback: true },
    );
  });
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
      await api.call('DELETE', `/v1/sessions/${session.id}`).catch(() => {});
    },
  };
}
