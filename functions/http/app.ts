import { OpenAPIHono } from '@hono/zod-openapi';

/** The HTTP API. Served by Lambda through `index.ts` and by the local runtime directly. */
export const app = new OpenAPIHono();

app.get('/healthz', (c) => c.json({ ok: true }));
