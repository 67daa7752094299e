/** `ferry config check|docs|example`: the server's settings file, checked and documented; `show` and `encryption`: the client's. */
import type { Command } from 'commander';
import { ExitError, EXIT } from '../exit.js';
import { registerConfigEncryption } from './config-encryption.js';
import { registerConfigShow } from './config-show.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check and document the server configuration file (ferry serve --config); show the client\'s configuration, encrypt its secrets');
  registerConfigEncryption(config);
  registerConfigShow(config);

  config
    .command('check')
    .argument('<file>', 'a YAML (.yaml, .yml), TOML (.toml) or JSON (.json) config file')
    .description('validate a config file: syntax, unknown keys, wrong types; every problem with its line')
    .addHelpText(
      'after',
      `
Exit status 0 when the file is valid, 2 when it is not (one line per problem, FILE:LINE: ...).

Examples:
  $ ferry config check /etc/ferry/ferry.yaml
  /etc/ferry/ferry.yaml: ok (12 settings)
  $ ferry config check bad.toml
  bad.toml:3: maxUploadSessions: must be a number, not string "many"`,
    )
    .action(async (file: string) => {
      const { checkConfigFile } = await import('../../server/config-file.js');
      const { formatProblem } = await import('../../server/settings.js');
      const { problems, keys, warning } = await checkConfigFile(file).catch((err: unknown) => {
        throw new ExitError(EXIT.USAGE, (err as Error).message);
      });
      if (warning) process.stderr.write(`ferry: warning: ${warning}\n`);
      if (problems.length === 0) {
        process.stdout.write(`${file}: ok (${keys} setting${keys === 1 ? '' : 's'})\n`);
        return;
      }
      for (const p of problems) process.stderr.write(formatProblem(p, file) + '\n');
      throw new ExitError(EXIT.USAGE);
    });

  config
    .command('docs')
    .description('print the table of every setting (file key, flag, variable, type, default, reload) as Markdown')
    .addHelpText('after', '\nExample:\n  $ ferry config docs > settings.md')
    .action(async () => {
      const { settingsMarkdown } = await import('../../server/settings.js');
      process.stdout.write(settingsMarkdown());
    });

  config
    .command('example')
    .description('print a YAML config file with every setting commented out at its default')
    .addHelpText('after', '\nExample:\n  $ ferry config example > /etc/ferry/ferry.yaml')
    .action(async () => {
      const { exampleYaml } = await import('../../server/settings.js');
      process.stdout.write(exampleYaml());
    });
}
