import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import {
  assertResumable,
  createSession,
  endSession,
  sessionForOwner,
} from '../../../shared/sessions/lifecycle.ts';
import { CreateSessionSchema, type SessionView } from '../../../shared/sessions/model.ts';
import { listSessions } from '../../../shared/sessions/sessions.ts';
import { sessionDeps } from '../../lib/session-deps.ts';
import type { AppEnv } from '../types.ts';
import { errors, idParam, json } from './openapi.ts';

const ChildSchema = z.object({
  childId: z.string(),
  roles: z.array(z.enum(['workload', 'default'])),
  state: z.enum(['pending', 'ready', 'failed', 'disconnected', 'closing', 'closed']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  updatedAt: z.string(),
});

const SessionSchema = z
  .object({
    id: z.string(),
    state: z.enum(['pending', 'ready', 'failed', 'closed']),
    service: z.string().optional(),
    label: z.string().optional(),
    createdAt: z.string(),
    expiresAt: z.string(),
    clusters: z.record(z.string(), ChildSchema),
    subscriptions: z.array(
      z.object({ subId: z.string(), service: z.string(), mode: z.string() }).passthrough(),
    ),
    outputQueues: z.record(z.string(), z.string()).optional(),
    splits: z.array(z.unknown()).optional(),
    branches: z.record(z.string(), z.string()).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
    closedReason: z.string().optional(),
    /** A client (a `switchyard` command) holds the session's WebSocket now. */
    clientConnected: z.boolean(),
  })
  .openapi('Session');

const IdParam = idParam(/^[a-z0-9]{1,40}$/);

/** The API's view: ISO times, no internal fields (owner, connection ids, versions). */
export function present(s: SessionView) {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: s.id,
    state: s.state,
    ...(s.service ? { service: s.service } : {}),
    ...(s.label ? { label: s.label } : {}),
    createdAt: iso(s.createdAt),
    expiresAt: iso(s.expiresAt),
    clusters: Object.fromEntries(
      Object.values(s.clusters).map((c) => [
        c.clusterId,
        {
          childId: c.childId,
          roles: c.roles,
          state: c.state,
          ...(c.error ? { error: c.error } : {}),
          updatedAt: iso(c.updatedAt),
        },
      ]),
    ),
    subscriptions: s.subscriptions,
    ...(s.outputQueues ? { outputQueues: s.outputQueues } : {}),
    ...(s.splits ? { splits: s.splits } : {}),
    ...(s.branches ? { branches: s.branches } : {}),
    ...(s.error ? { error: s.error } : {}),
    ...(s.closedReason ? { closedReason: s.closedReason } : {}),
    clientConnected: s.clientConnectionId !== undefined,
  };
}

const create = createRoute({
  method: 'post',
  path: '/v1/sessions',
  operationId: 'createSession',
  summary: 'Create a session spanning every workload cluster and the default cluster',
  security: [{ bearer: [] }],
  request: { body: { content: { 'application/json': { schema: CreateSessionSchema } }, required: true } },
  responses: {
    201: json(SessionSchema, 'created (pending until every cluster is ready)'),
    ...errors([400, 409, 503], {
      409: 'a split conflicts with another session’s split of the same queue',
      503: 'a cluster the session needs is not connected (pass allowPartial to go on without workload clusters)',
    }),
  },
});

const get = createRoute({
  method: 'get',
  path: '/v1/sessions/{id}',
  operationId: 'getSession',
  summary: 'One of your sessions, with each cluster’s child state',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: json(SessionSchema, 'the session'),
    ...errors([400, 404], { 404: 'no such session of yours' }),
  },
});

const list = createRoute({
  method: 'get',
  path: '/v1/sessions',
  operationId: 'listSessions',
  summary: 'Your sessions, newest first',
  security: [{ bearer: [] }],
  request: {
    query: z.object({ state: z.enum(['pending', 'ready', 'failed', 'closed', 'live']).optional() }),
  },
  responses: { 200: json(z.object({ sessions: z.array(SessionSchema) }), 'sessions'), ...errors([400]) },
});

const remove = createRoute({
  method: 'delete',
  path: '/v1/sessions/{id}',
  operationId: 'endSession',
  summary: 'End a session (idempotent): its clusters drop it, its splits drain, its connection closes',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: json(SessionSchema, 'the ended session'),
    ...errors([400, 404], { 404: 'no such session of yours' }),
  },
});

const resume = createRoute({
  method: 'get',
  path: '/v1/sessions/{id}/resume',
  operationId: 'checkSessionResumable',
  summary: 'Check that a session can be resumed (410 when it cannot)',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: json(SessionSchema, 'resumable'),
    ...errors([400, 404, 410], {
      404: 'no such session of yours',
      410: 'the session is over: start a new one',
    }),
  },
});

export function registerSessionRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { deps } = sessionDeps();
    const s = await createSession(deps, c.get('owner'), c.req.valid('json'));
    return c.json(present(s), 201);
  });

  app.openapi(get, async (c) => {
    const { deps } = sessionDeps();
    return c.json(present(await sessionForOwner(deps.store, c.req.valid('param').id, c.get('owner'))), 200);
  });

  app.openapi(list, async (c) => {
    const { deps } = sessionDeps();
    const state = c.req.valid('query').state;
    const sessions = (await listSessions(deps.store, c.get('owner'))).filter(
      (s) =>
        !state || s.state === state || (state === 'live' && (s.state === 'pending' || s.state === 'ready')),
    );
    return c.json({ sessions: sessions.map(present) }, 200);
  });

  app.openapi(remove, async (c) => {
    const { deps } = sessionDeps();
    const s = await sessionForOwner(deps.store, c.req.valid('param').id, c.get('owner'));
    const ended = await endSession(deps, s.id, 'deleted by its owner');
    return c.json(present(ended ?? s), 200);
  });

  app.openapi(resume, async (c) => {
    const { deps } = sessionDeps();
    const s = await sessionForOwner(deps.store, c.req.valid('param').id, c.get('owner'));
    assertResumable(s);
    return c.json(present(s), 200);
  });
}
