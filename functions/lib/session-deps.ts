import { encodeFrames } from '../../shared/protocol/chunking.ts';
import type { CarriedMessage } from '../../shared/protocol/messages.ts';
import { sessionFeatures } from '../../shared/sessions/feature-set.ts';
import type { SessionDeps } from '../../shared/sessions/lifecycle.ts';
import { signedConnections } from './connections-client.ts';
import { type Deps, deps, onResetDeps } from './deps.ts';
import { ENV } from './env.ts';
import { ApiGatewayMessenger } from './messenger.ts';

/**
 * Frames for one message: a chunk passes as it is (it was routed by its head); larger messages are
 * chunked. Not validated again: what the router forwards it validated when the frame came in (and
 * changed only routing fields it checked), and every receiver validates each frame itself.
 */
const frames = (m: object): string[] =>
  (m as { type?: string }).type === 'chunk'
    ? [JSON.stringify(m)]
    : encodeFrames(m as CarriedMessage, { validate: false });

let cached: { deps: SessionDeps; messenger: ApiGatewayMessenger } | undefined;

export function buildSessionDeps(d: Deps): { deps: SessionDeps; messenger: ApiGatewayMessenger } {
  if (!d.wsManagementEndpoint) {
    throw new Error(
      `environment variable ${ENV.wsManagementEndpoint} is not set: the http, ws and reconciler functions post to WebSocket connections through it. The router stack sets it from its WebSocket stage (redeploy the stack); the local runtime sets it itself`,
    );
  }
  // Posting goes through the lean signed client, set up once per instance, with the instance's
  // credentials (deps.ts).
  const connections = signedConnections({
    endpoint: d.wsManagementEndpoint,
    region: d.region,
    credentials: d.credentials,
  });
  const messenger = new ApiGatewayMessenger(connections, d.store, d.now, frames);
  return {
    messenger,
    deps: {
      store: d.store,
      topology: d.topology,
      settings: d.settings,
      messenger,
      now: d.now,
      // Registering and ending splits never touch another account's queues (only retiring does).
      features: sessionFeatures(d),
    },
  };
}

onResetDeps(() => {
  cached = undefined;
});

export function sessionDeps(): { deps: SessionDeps; messenger: ApiGatewayMessenger } {
  cached ??= buildSessionDeps(deps());
  return cached;
}
