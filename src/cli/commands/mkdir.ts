import type { Command } from 'commander';
import { resolveLocations } from '../location.js';
import { UsageError } from '../../core/errors.js';
import { addConnectionOptions, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { E2E_HELP, addE2eOptions, secretOf, type E2eOpts } from '../e2e-flags.js';

export function registerMkdir(program: Command): void {
  const cmd = program
    .command('mkdir')
    .description('create directories on the server or any remote')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, sftp://host/dir, ./dir')
    .option('-p, --parents', 'create parents as needed; no error if the directory exists')
    .option('--e2e', 'an end-to-end folder on a Ferry server: everything put into it is encrypted here, names too');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On stores whose directories are implied by their keys (S3, memory) there is nothing to
make: a directory appears with its first file, as with rclone.

Examples:
  $ ferry mkdir /photos
  $ ferry mkdir -p /backup/2026/11
  $ ferry mkdir -p nas:/srv/inbox
${E2E_HELP}
The folder's marker (.ferry-e2e) keeps the key's salt and check value, never the key.
  $ ferry mkdir --e2e /vault                       (asks for the passphrase)
  $ ferry mkdir --e2e --e2e-key-file ~/.ferry-key /vault
In such a folder paths are plain and the new folder's name is encrypted here:
  $ ferry mkdir -p /vault/2026/letters             (asks for the passphrase)`,
  );
  cmd.action(async (args: string[], opts: ConnectionOpts & E2eOpts & { parents?: boolean; e2e?: boolean }) => {
    for (const loc of await resolveLocations(args, 'server')) {
      if (loc.kind === 'server') {
        await withServer(loc, opts, (client) =>
          withInterrupt(async (signal) => {
            const { mkdirEndToEnd, mkdirInVault } = await import('../e2e-run.js');
            if (opts.e2e) await mkdirEndToEnd(client, loc.path, opts, signal);
            else if (!(await mkdirInVault(client, loc.path, secretOf(opts), { parents: opts.parents, signal }))) await client.mkdir(loc.path, { parents: opts.parents, signal });
          }),
        );
        continue;
      }
      if (opts.e2e) throw new UsageError(`--e2e folders are on a Ferry server; ${loc.label} is not one`);
      const { mkdirPlace, withPlaces } = await import('../remote-fs.js');
      await withPlaces([loc.spec], ([place]) => withInterrupt((signal) => mkdirPlace(place, { parents: opts.parents, signal })));
    }
  });
}
