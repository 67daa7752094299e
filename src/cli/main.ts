/**
 * The `ferry` command: dispatch only. Each command is a module in ./commands that
 * registers itself on the program and calls the library; errors are printed and mapped to
 * an exit code in one place (./exit.ts).
 */
import { Command, CommanderError, Option } from 'commander';
import { allCommands, commandFor, type RegisterCommand } from './commands/index.js';
import { addExamples } from './examples.js';
import { EXIT, reportError } from './exit.js';
import { isBrokenPipe, watchStdout } from './stdout.js';
import { retrySummary } from './options.js';
import { VERSION } from '../core/version.js';
import { raiseParserBudget } from '../client/parser-budget.js';

/** The whole program, every command registered: for the program's help, completion and tests. */
export async function buildProgram(): Promise<Command> {
  return programWith(await allCommands());
}

/**
 * The program that running `argv` needs: when argv names a command, only that command is
 * registered (its help, options and errors are the same as in the whole program:
 * test/cli/client-startup.test.ts compares them); `--version` needs none.
 */
export async function programFor(argv: string[]): Promise<Command> {
  const json = argv.includes('--json');
  for (const arg of argv.slice(2)) {
    if (arg === '--debug') continue;
    if (arg === '-V' || arg === '--version') return programWith([]);
    if (arg.startsWith('-')) break; // the program's own --help, or a mistake: its message needs every command
    const entry = commandFor(arg);
    if (entry === undefined || entry.needsAll === true) break;
    return programWith(await entry.load(), json);
  }
  return programWith(await allCommands(), json);
}

/** `json`: usage mistakes are reported as `{"error": {…}}` on stderr, as every other error is under --json. */
function programWith(commands: RegisterCommand[], json = false): Command {
  const program = new Command('ferry')
    .description('Ferry: self-hosted file transfer, storage and sync')
    .version(VERSION, '-V, --version')
    .option('--debug', 'print stack traces on errors')
    .showHelpAfterError(json ? false : '(run with --help for usage)')
    .exitOverride();
  if (json) {
    // Set before the commands are registered: they inherit it.
    program.configureOutput({
      outputError: (text, write) =>
        write(JSON.stringify({ error: { code: 'FERRY_ERR_USAGE', message: `${text.trim().replace(/^error: /, '')} (run with --help for usage)` } }) + '\n'),
    });
  }
  for (const register of commands) register(program);
  addExamples(program);
  // Program options only before the command name: `ferry restore PATH --version N` is the
  // restore command's --version, not the program's. --debug stays accepted anywhere.
  program.enablePositionalOptions();
  const addDebug = (cmd: Command): void => {
    for (const sub of cmd.commands) {
      if (!sub.options.some((o) => o.long === '--debug')) sub.addOption(new Option('--debug', 'print stack traces on errors').hideHelp());
      addDebug(sub);
    }
  };
  addDebug(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await run(argv);
  } finally {
    const note = retrySummary();
    if (note !== undefined && !isBrokenPipe()) process.stderr.write(note + '\n');
  }
}

async function run(argv: string[]): Promise<number> {
  watchStdout();
  raiseParserBudget();
  const program = await programFor(argv);
  try {
    await program.parseAsync(argv);
    if (isBrokenPipe()) return EXIT.BROKEN_PIPE;
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.OK;
  } catch (err) {
    // The reader of stdout went away (`| head`): whatever failed since is a consequence,
    // and nobody is there to read about it. End quietly, as a SIGPIPE death would.
    if (isBrokenPipe()) return EXIT.BROKEN_PIPE;
    if (err instanceof CommanderError) {
      // --help and --version end with code 0; usage mistakes were already printed.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const opts = program.opts<{ debug?: boolean }>();
    const json = argv.includes('--json');
    return reportError(err, { json, debug: opts.debug === true || argv.includes('--debug') || process.env.FERRY_DEBUG === '1' });
  }
}
