import { ENV } from '../../functions/lib/env.ts';
import type { Topology } from '../../shared/config/topology.ts';
import type { DeployContext } from '../deploy-context.ts';

/**
 * The region of the table, for functions deployed in another region (splitters next to their
 * clusters' queues): the DynamoDB client must call the router's region, not its own.
 */
export const TABLE_REGION_ENV = ENV.tableRegion;

export interface FunctionEnvironmentInput {
  topology: Topology;
  ctx: DeployContext;
  tableName: string;
  tableRegion: string;
  /** The account the stack deploys to (a token when the stack is account-agnostic). */
  account: string;
}

/** The environment contract of functions/lib/env.ts, as every function gets it. */
export function functionEnvironment(input: FunctionEnvironmentInput): Record<string, string> {
  const { $schema: _schema, ...topology } = input.topology;

  return {
    [ENV.table]: input.tableName,
    // Names the output queues (`switchyard-<stage>_...`), the prefix the roles' queue scope covers.
    [ENV.stage]: input.ctx.stage,
    [TABLE_REGION_ENV]: input.tableRegion,
    // The account of the queues named without an ARN, for the queue URLs the HTTP API shows.
    [ENV.account]: input.account,
    [ENV.topology]: JSON.stringify(topology),
    ...(input.ctx.settings ? { [ENV.settings]: JSON.stringify(input.ctx.settings) } : {}),
    // Queues of other accounts: fallback URLs are looked up in the owner's account, and
    // GET /v1/clusters shows every queue's URL with its owner's account.
    ...(Object.keys(input.ctx.queueArns).length > 0
      ? { [ENV.queueArns]: JSON.stringify(input.ctx.queueArns) }
      : {}),
    [ENV.logLevel]: input.ctx.logLevel,
  };
}
