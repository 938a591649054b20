import { z } from '@hono/zod-openapi';

/** The one error body of every route, for the OpenAPI document. */
export const ErrorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string() }) })
  .openapi('Error');

/** What each error status means, wherever an operation can return it. */
const ERROR_MEANING = {
  400: 'invalid request: a parameter or the body failed validation (the message names the field)',
  401: 'missing, unknown or revoked bearer token',
  403: 'the token is a cluster’s, not a developer’s',
  404: 'no such resource of yours',
  409: 'a conflicting change: the message says which (retry, or pick another id)',
  410: 'over for good: start a new one',
  503: 'a cluster it needs is not connected: start its connector, then retry',
} as const;

export type ErrorStatus = keyof typeof ERROR_MEANING;

/**
 * The error responses of an operation, all with the one error body. Every /v1 operation can
 * answer 401 and 403 (the bearer token is checked before the route runs); the rest are listed
 * per operation, with a description of its own where the generic one says too little.
 */
export function errors(
  statuses: ErrorStatus[],
  own: Partial<Record<ErrorStatus, string>> = {},
): Record<ErrorStatus, ReturnType<typeof json<typeof ErrorSchema>>> {
  const all = [...new Set<ErrorStatus>([...statuses, 401, 403])].sort((a, b) => a - b);
  return Object.fromEntries(all.map((s) => [s, json(ErrorSchema, own[s] ?? ERROR_MEANING[s])])) as Record<
    ErrorStatus,
    ReturnType<typeof json<typeof ErrorSchema>>
  >;
}

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
