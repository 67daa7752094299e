import type { Command } from 'commander';
import { normalizePath } from '../../core/path.js';
import { addConnectionOptions, withClient, withInterrupt, type ConnectionOpts } from '../options.js';
import { E2E_HELP, addE2eOptions, mkdirEndToEnd, type E2eOpts } from '../e2e-flags.js';

export function registerMkdir(program: Command): void {
  const cmd = program
    .command('mkdir')
    .description('create remote directories')
    .argument('<paths...>', 'remote paths')
    .option('-p, --parents', 'create parents as needed; no error if the directory exists')
    .option('--e2e', 'an end-to-end folder: everything put into it is encrypted here, names too');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ ferry mkdir /photos
  $ ferry mkdir -p /backup/2026/11
${E2E_HELP}
The folder's marker (.ferry-e2e) keeps the key's salt and check value, never the key.
  $ ferry mkdir --e2e /vault                       (asks for the passphrase)
  $ ferry mkdir --e2e --e2e-key-file ~/.ferry-key /vault`,
  );
  cmd.action(async (paths: string[], opts: ConnectionOpts & E2eOpts & { parents?: boolean; e2e?: boolean }) => {
    const targets = paths.map((p) => normalizePath(p));
    await withClient(opts, async (client) => {
      await withInterrupt(async (signal) => {
        for (const p of targets) {
          if (opts.e2e) await mkdirEndToEnd(client, p, opts, signal);
          else await client.mkdir(p, { parents: opts.parents, signal });
        }
      });
    });
  });
}
