import type { MiddlewareHandler } from 'hono';
import { authenticate, bearerToken, principalId } from '../../shared/auth/tokens.ts';
import { ForbiddenError } from '../../shared/errors/errors.ts';
import { deps } from '../lib/deps.ts';
import type { AppEnv } from './types.ts';

/** Every /v1 route needs a developer's bearer token; a cluster's token is for its connector only. */
export const requireDeveloper: MiddlewareHandler<AppEnv> = async (c, next) => {
  const principal = await authenticate(deps().store, bearerToken(c.req.header('authorization')));
  if (principal.type !== 'developer') {
    throw new ForbiddenError('a cluster token cannot use the developer API: use a developer token');
  }
  c.set('principal', principal);
  c.set('owner', principalId(principal));
  await next();
};
