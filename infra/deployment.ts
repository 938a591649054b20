import type { App } from 'aws-cdk-lib';
import type { Topology } from '../shared/config/topology.ts';
import { tableNameFor } from './constructs/state-table.ts';
import type { DeployContext } from './deploy-context.ts';
import { RouterStack } from './router-stack.ts';
import { splitterPlan } from './splitter-plan.ts';
import { SplitterStack } from './splitter-stack.ts';

export interface Deployment {
  router: RouterStack;
  /** By region. */
  splitters: Map<string, SplitterStack>;
}

export interface DeploymentInput {
  topology: Topology;
  ctx: DeployContext;
  /** The account when context gives none (the CLI's CDK_DEFAULT_ACCOUNT); unset keeps the stacks account-agnostic. */
  defaultAccount?: string | undefined;
}

/**
 * Every stack of one stage: the router in the topology's region (or context `region`), and one
 * splitter per region that holds source queues. Splitters depend on the router so a first deploy
 * creates the table before anything reads it.
 */
export function buildDeployment(app: App, input: DeploymentInput): Deployment {
  const { topology, ctx } = input;
  const account = ctx.account ?? input.defaultAccount;
  const routerRegion = ctx.region ?? topology.region;
  const prefix = `Switchyard-${ctx.stage}`;
  // Planned first: a refused queue setting fails before any function is bundled.
  const plan = splitterPlan(topology, ctx);

  const router = new RouterStack(app, `${prefix}-Router`, {
    env: { ...(account ? { account } : {}), region: routerRegion },
    description: `Switchyard router (${ctx.stage})`,
    topology,
    ctx,
  });
  const splitters = new Map<string, SplitterStack>();
  for (const [region, queues] of plan) {
    const stack = new SplitterStack(app, `${prefix}-Splitter-${region}`, {
      env: { ...(account ? { account } : {}), region },
      description: `Switchyard queue splitter for ${region} (${ctx.stage})`,
      topology,
      ctx,
      queues,
      tableName: tableNameFor(ctx.stage),
      tableRegion: routerRegion,
    });
    stack.addStackDependency(router);
    splitters.set(region, stack);
  }
  return { router, splitters };
}
