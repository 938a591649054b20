import { OpenAPIHono } from '@hono/zod-openapi';
import { HTTPException } from 'hono/http-exception';
import {
  errorBody,
  isSwitchyardError,
  SwitchyardError,
  ValidationError,
} from '../../shared/errors/errors.ts';
import { requireDeveloper } from './auth.ts';
import { registerBranchRoutes } from './routes/branches.ts';
import { registerClusterRoutes } from './routes/clusters.ts';
import { registerSessionRoutes } from './routes/sessions.ts';
import type { AppEnv } from './types.ts';

/** The HTTP API. Served by Lambda through `index.ts` and by the local runtime directly. */
export const app = new OpenAPIHono<AppEnv>({
  // Validation failures become the one error shape, naming the field that is wrong.
  defaultHook: (result) => {
    if (!result.success) {
      const issues = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
      throw new ValidationError(`invalid request: ${issues.join('; ')}`, { issues });
    }
  },
});

app.onError((err, c) => {
  if (isSwitchyardError(err)) return c.json(errorBody(err), err.httpStatus as 400);
  if (err instanceof SyntaxError || (err instanceof HTTPException && err.status === 400)) {
    return c.json(errorBody(new ValidationError(`the body is not valid JSON: ${err.message}`)), 400);
  }
  if (err instanceof HTTPException) {
    return c.json(errorBody(new SwitchyardError(`http_${err.status}`, err.message, err.status)), err.status);
  }
  console.error(
    JSON.stringify({ level: 'ERROR', message: 'unhandled error', error: String(err), stack: err.stack }),
  );
  return c.json(errorBody(new SwitchyardError('internal', 'internal error: see the router logs')), 500);
});

app.notFound((c) =>
  c.json(
    errorBody(
      new SwitchyardError('not_found', `no route ${c.req.method} ${c.req.path}: see /openapi.json`, 404),
    ),
    404,
  ),
);

app.get('/healthz', (c) => c.json({ ok: true }));

app.use('/v1/*', requireDeveloper);
registerClusterRoutes(app);
registerSessionRoutes(app);
registerBranchRoutes(app);

app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });
app.doc31('/openapi.json', {
  openapi: '3.1.0',
  info: {
    title: 'Switchyard router API',
    version: '1',
    description:
      'Sessions, clusters and database branches of a Switchyard router. Every operation takes a developer token (`Authorization: Bearer <token>`); every error has the one `Error` body with a stable `code`.',
    license: { name: 'Apache-2.0', url: 'https://www.apache.org/licenses/LICENSE-2.0' },
  },
  servers: [
    {
      url: '{router}',
      description: 'the router: the HttpApiUrl output of its stack on AWS, or what `npm start` prints',
      variables: { router: { default: 'http://127.0.0.1:8787', description: 'the router’s HTTP URL' } },
    },
  ],
  security: [{ bearer: [] }],
});
