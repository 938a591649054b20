import { App } from 'aws-cdk-lib';
import { isSwitchyardError } from '../shared/errors/errors.ts';
import { defineApp } from './synthesize.ts';

// The `cdk synth` / `cdk deploy` entry (cdk.json). An invalid topology or context stops the
// synth with the rule that broke and exit code 1, without a stack trace: it is the user's input.
try {
  const app = new App();
  defineApp(app);
  app.synth();
} catch (err) {
  if (!isSwitchyardError(err)) throw err;
  process.stderr.write(`${err.message}\n`);
  process.exitCode = 1;
}
