import { deps } from '../../functions/lib/deps.ts';
import { buildSessionDeps } from '../../functions/lib/session-deps.ts';
import { type WsEvent, handler as wsHandler } from '../../functions/ws/index.ts';
import type { WsHandler } from '../../infra/local/handlers.ts';
import { identityFromContext } from '../../shared/relay/identity.ts';
import { Relay } from '../../shared/relay/relay.ts';

/**
 * The router's own ws handler, with a switch to run each message on a fresh Relay and messenger
 * instead: what a Lambda instance that has never seen the connection (a cold start, or one of
 * many instances behind a busy API) does. $connect and $disconnect always take the real handler,
 * so the warm handler's caches stay as a real instance would keep them. A cold message gets the
 * identity the $connect authorizer attached to the event, as the real handler does.
 */
export function switchableWsHandler(): { handler: WsHandler; setCold(cold: boolean): void } {
  let cold = false;
  const handler: WsHandler = async (event) => {
    const e = event as unknown as WsEvent;
    if (!cold || e.requestContext?.routeKey !== '$default') return wsHandler(e);
    // Same clients (connections are reused across invocations on Lambda too), no caches.
    const relay = new Relay(buildSessionDeps(deps()).deps);
    const body =
      e.isBase64Encoded && e.body ? Buffer.from(e.body, 'base64').toString('utf8') : (e.body ?? '');
    await relay.message(
      e.requestContext.connectionId,
      body,
      identityFromContext(e.requestContext.authorizer),
    );
    return { statusCode: 200 };
  };
  return {
    handler,
    setCold(c) {
      cold = c;
    },
  };
}
