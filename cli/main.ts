import { Command } from 'commander';
import { registerBranch } from './commands/branch.ts';
import { registerConnector } from './commands/connector.ts';
import { registerDev } from './commands/dev.ts';
import { registerIntercept } from './commands/intercept.ts';
import { registerSessions } from './commands/sessions.ts';
import { registerSplit } from './commands/split.ts';
import { registerStateful } from './commands/stateful.ts';
import { registerToken } from './commands/token.ts';
import { reportAndExit } from './output/errors.ts';

const program = new Command()
  .name('switchyard')
  .description(
    'Serverless traffic router across Kubernetes clusters: one connection, traffic from every cluster.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .enablePositionalOptions();

registerDev(program);
registerIntercept(program);
registerStateful(program);
registerSessions(program);
registerSplit(program);
registerBranch(program);
registerConnector(program);
registerToken(program);

program.parseAsync(process.argv).catch(reportAndExit);
