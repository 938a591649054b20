import type { Principal } from '../../shared/auth/tokens.ts';

export type AppEnv = { Variables: { principal: Principal; owner: string } };
