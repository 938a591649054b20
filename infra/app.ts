import { resolve } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { loadTopology } from '../shared/config/topology.ts';
import { isSwitchyardError } from '../shared/errors/errors.ts';
import { CONTEXT_KEYS, parseDeployContext } from './deploy-context.ts';
import { buildDeployment } from './deployment.ts';

/**
 * `cdk synth` / `cdk deploy` entry (cdk.json). Offline: no lookups, so a fresh clone synthesizes
 * without credentials. An invalid topology or context stops the synth with the rule that broke.
 */
function main(): void {
  const app = new App();
  const ctx = parseDeployContext(Object.fromEntries(CONTEXT_KEYS.map((k) => [k, app.node.tryGetContext(k)])));
  const topology = loadTopology(resolve(ctx.config));
  buildDeployment(app, { topology, ctx, defaultAccount: process.env.CDK_DEFAULT_ACCOUNT });
  // The same AWS Solutions rules the tests hold the stacks to: a new finding fails the synth.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
}

try {
  main();
} catch (err) {
  if (!isSwitchyardError(err)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
