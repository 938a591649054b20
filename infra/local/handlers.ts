import type { Context, ScheduledEvent, SQSEvent } from 'aws-lambda';
import type { WebSocketEvent } from './websocket-events.ts';

/**
 * The function handlers the runtime drives. By default they are the very files Lambda runs;
 * tests (and later features) can put their own in their place. Results are `unknown` because
 * the runtime checks them as Lambda does (a proxy result for ws, an SQSBatchResponse for the
 * splitter) rather than trusting a type.
 */
export type WsHandler = (event: WebSocketEvent, context: Context) => Promise<unknown>;
export type SplitterHandler = (event: SQSEvent, context: Context) => Promise<unknown>;
export type ReconcilerHandler = (event: ScheduledEvent, context: Context) => Promise<unknown>;
/** The HTTP API: a fetch-style app (the hono app in functions/http/app.ts). */
export interface HttpApp {
  fetch(request: Request, env?: unknown): Response | Promise<Response>;
}

export interface FunctionHandlers {
  http: HttpApp;
  ws: WsHandler;
  splitter: SplitterHandler;
  reconciler: ReconcilerHandler;
}

/**
 * Imports the handler files that are not overridden. Call it only after the function
 * environment is set: the modules read it (lazily, but some may read it on import).
 * The casts are the Lambda boundary: each file declares the event type it expects, and the
 * runtime builds events of exactly that shape.
 */
export async function loadHandlers(overrides: Partial<FunctionHandlers> = {}): Promise<FunctionHandlers> {
  const [http, ws, splitter, reconciler] = await Promise.all([
    overrides.http ?? import('../../functions/http/app.ts').then((m) => m.app as HttpApp),
    overrides.ws ?? import('../../functions/ws/index.ts').then((m) => m.handler as unknown as WsHandler),
    overrides.splitter ??
      import('../../functions/splitter/index.ts').then((m) => m.handler as unknown as SplitterHandler),
    overrides.reconciler ??
      import('../../functions/reconciler/index.ts').then((m) => m.handler as unknown as ReconcilerHandler),
  ]);
  return { http, ws, splitter, reconciler };
}
