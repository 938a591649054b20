import { z } from '@hono/zod-openapi';

/** The one error body of every route, for the OpenAPI document. */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

/** A JSON response entry of a route. */
export const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});

/** The `{id}` path parameter, validated at the edge. */
export const idParam = (pattern: RegExp) =>
  z.object({
    id: z
      .string()
      .regex(pattern)
      .openapi({ param: { name: 'id', in: 'path' } }),
  });
