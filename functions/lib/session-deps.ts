import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { encodeFrames } from '../../shared/protocol/chunking.ts';
import type { CarriedMessage } from '../../shared/protocol/messages.ts';
import { sessionFeatures } from '../../shared/sessions/feature-set.ts';
import type { SessionDeps } from '../../shared/sessions/lifecycle.ts';
import { type Deps, deps, onResetDeps } from './deps.ts';
import { ENV } from './env.ts';
import { ApiGatewayMessenger } from './messenger.ts';

/** Frames for one message: a chunk passes as it is (it was routed by its head); larger messages are chunked. */
const frames = (m: object): string[] =>
  (m as { type?: string }).type === 'chunk' ? [JSON.stringify(m)] : encodeFrames(m as CarriedMessage);

let cached: { deps: SessionDeps; messenger: ApiGatewayMessenger } | undefined;

export function buildSessionDeps(d: Deps): { deps: SessionDeps; messenger: ApiGatewayMessenger } {
  if (!d.wsManagementEndpoint) {
    throw new Error(
      `environment variable ${ENV.wsManagementEndpoint} is not set: the http, ws and reconciler functions post to WebSocket connections through it. The router stack sets it from its WebSocket stage (redeploy the stack); the local runtime sets it itself`,
    );
  }
  const connections = new ApiGatewayManagementApiClient({
    region: d.region,
    endpoint: d.wsManagementEndpoint,
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
