import { Command } from 'commander';
import { registerDev } from './commands/dev.ts';
import { registerToken } from './commands/token.ts';
import { reportAndExit } from './output/errors.ts';

const program = new Command()
  .name('switchyard')
  .description(
    'Serverless traffic router across Kubernetes clusters: one connection, traffic from every cluster.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerDev(program);
registerToken(program);

program.parseAsync(process.argv).catch(reportAndExit);
