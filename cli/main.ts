import { Command, Option } from 'commander';
import pkg from '../package.json' with { type: 'json' };
import { COMMANDS } from './command-table.ts';
import { scanGlobalArgs } from './global-args.ts';
import { reportAndExit } from './output/errors.ts';
import { EXIT } from './output/exit-codes.ts';
import { STATE_FILE_HELP } from './router/local-state.ts';

const { command, stateFile } = scanGlobalArgs(process.argv.slice(2));
// Set before any command module loads: every reader of the state file (and `dev`, its writer)
// takes it from the environment, so one flag reaches them all.
if (stateFile !== undefined) process.env.SWITCHYARD_STATE_FILE = stateFile;

const program = new Command()
  .name('switchyard')
  .description(
    'Serverless traffic router across Kubernetes clusters: one connection, traffic from every cluster.',
  )
  .version(pkg.version)
  .addOption(new Option('--state-file <file>', STATE_FILE_HELP))
  .showHelpAfterError('(run with --help for usage)')
  .enablePositionalOptions()
  // Commander has printed what is wrong with the command line; subcommands inherit this.
  .exitOverride((err) => process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage));

const entry = COMMANDS.find((c) => c.name === command);
try {
  if (entry) (await entry.load())(program);
  // No command to run (--help, --version, a typo): names and descriptions are all commander needs.
  else for (const c of COMMANDS) program.command(c.name).description(c.description);
  await program.parseAsync(process.argv);
} catch (err) {
  reportAndExit(err);
}
