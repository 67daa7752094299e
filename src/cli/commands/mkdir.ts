import type { Command } from 'commander';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, withServer, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerMkdir(program: Command): void {
  const cmd = program
    .command('mkdir')
    .description('create directories on the server or any remote')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, sftp://host/dir, ./dir')
    .option('-p, --parents', 'create parents as needed; no error if the directory exists');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On stores whose directories are implied by their keys (S3, memory) there is nothing to
make: a directory appears with its first file, as with rclone.

Examples:
  $ ferry mkdir /photos
  $ ferry mkdir -p /backup/2026/11
  $ ferry mkdir -p nas:/srv/inbox`,
  );
  cmd.action(async (args: string[], opts: ConnectionOpts & { parents?: boolean }) => {
    for (const loc of await resolveLocations(args, 'server')) {
      if (loc.kind === 'server') {
        await withServer(loc, opts, (client) => withInterrupt((signal) => client.mkdir(loc.path, { parents: opts.parents, signal })));
        continue;
      }
      const { mkdirPlace, withPlaces } = await import('../remote-fs.js');
      await withPlaces([loc.spec], ([place]) => withInterrupt((signal) => mkdirPlace(place, { parents: opts.parents, signal })));
    }
  });
}
