import { createRoute, type OpenAPIHono, z } from '@hono/zod-openapi';
import { createBranch, getBranch, listBranches, requestDelete } from '../../../shared/branches/branches.ts';
import { syncBranches } from '../../../shared/branches/controller.ts';
import { CreateBranchSchema } from '../../../shared/branches/schemas.ts';
import { sessionDeps } from '../../lib/session-deps.ts';
import type { AppEnv } from '../types.ts';
import { errors, idParam, json } from './openapi.ts';

const BranchSchema = z
  .object({
    id: z.string(),
    database: z.string(),
    name: z.string(),
    mode: z.enum(['schema', 'all']),
    phase: z.enum(['init', 'pending', 'ready', 'failed', 'deleting', 'deleted']),
    expireTime: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    progress: z.record(z.string(), z.unknown()).optional(),
    error: z.object({ code: z.string(), message: z.string() }).optional(),
  })
  .passthrough()
  .openapi('Branch');
const IdParam = idParam(/^[a-z0-9-]{1,40}$/);

const create = createRoute({
  method: 'post',
  path: '/v1/branches',
  operationId: 'createBranch',
  summary:
    'Request a private copy of a database on the default cluster (reuses a live branch with the same id)',
  security: [{ bearer: [] }],
  request: { body: { content: { 'application/json': { schema: CreateBranchSchema } }, required: true } },
  responses: {
    202: json(BranchSchema, 'accepted: poll it until its phase is ready or failed'),
    ...errors([400, 409], {
      409: 'the id is taken (by someone else, or for another database) or being deleted',
    }),
  },
});
const get = createRoute({
  method: 'get',
  path: '/v1/branches/{id}',
  operationId: 'getBranch',
  summary: 'One of your branches',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    200: json(BranchSchema, 'the branch'),
    ...errors([400, 404], { 404: 'no such branch of yours' }),
  },
});
const list = createRoute({
  method: 'get',
  path: '/v1/branches',
  operationId: 'listBranches',
  summary: 'Your branches',
  security: [{ bearer: [] }],
  request: { query: z.object({ deleted: z.enum(['true', 'false']).optional() }) },
  responses: { 200: json(z.object({ branches: z.array(BranchSchema) }), 'branches'), ...errors([400]) },
});
const remove = createRoute({
  method: 'delete',
  path: '/v1/branches/{id}',
  operationId: 'deleteBranch',
  summary: 'Drop a branch (idempotent)',
  security: [{ bearer: [] }],
  request: { params: IdParam },
  responses: {
    202: json(BranchSchema, 'the branch, deleting'),
    ...errors([400, 404, 409], {
      404: 'no such branch of yours',
      409: 'the branch kept changing while it was being marked for deletion: retry',
    }),
  },
});

export function registerBranchRoutes(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const { deps } = sessionDeps();
    // Written first; then the default cluster is told (or, if it is away, when it returns).
    const { branch } = await createBranch(deps.store, c.get('owner'), c.req.valid('json'), deps.now());
    await syncBranches(deps);
    return c.json(await getBranch(deps.store, c.get('owner'), branch.id, deps.now()), 202);
  });
  app.openapi(get, async (c) => {
    const { deps } = sessionDeps();
    return c.json(await getBranch(deps.store, c.get('owner'), c.req.valid('param').id, deps.now()), 200);
  });
  app.openapi(list, async (c) => {
    const { deps } = sessionDeps();
    const includeDeleted = c.req.valid('query').deleted === 'true';
    return c.json(
      { branches: await listBranches(deps.store, c.get('owner'), { includeDeleted, now: deps.now() }) },
      200,
    );
  });
  app.openapi(remove, async (c) => {
    const { deps } = sessionDeps();
    const b = await requestDelete(deps.store, c.get('owner'), c.req.valid('param').id, deps.now());
    await syncBranches(deps);
    return c.json(b, 202);
  });
}
