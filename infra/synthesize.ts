import { resolve } from 'node:path';
import { type App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadTopology } from '../shared/config/topology.ts';
import { CONTEXT_KEYS, parseDeployContext } from './deploy-context.ts';
import { buildDeployment, type Deployment } from './deployment.ts';

/**
 * Everything `cdk synth` builds, from the app's context: the topology file (context `config`),
 * the stacks, and the AWS Solutions checks, so a new unacknowledged finding fails the synth just
 * as it fails the tests. Offline: no lookups, no credentials.
 */
export function defineApp(app: App, defaultAccount = process.env.CDK_DEFAULT_ACCOUNT): Deployment {
  const ctx = parseDeployContext(Object.fromEntries(CONTEXT_KEYS.map((k) => [k, app.node.tryGetContext(k)])));
  const topology = loadTopology(resolve(ctx.config));
  const deployment = buildDeployment(app, { topology, ctx, defaultAccount: defaultAccount || undefined });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return deployment;
}
