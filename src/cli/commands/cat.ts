import type { Command } from 'commander';
import { IsADirectoryError } from '../../core/errors.js';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, withServer, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerCat(program: Command): void {
  const cmd = program
    .command('cat')
    .description('write files to stdout, from the server or any remote, one after the other')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, s3:bucket/key, ./file');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The bytes are verified as they go out (on a Ferry server, every chunk against its hash).
ferry get FILE - does the same for one file, with resume and progress.

Examples:
  $ ferry cat /notes/todo.txt
  $ ferry cat s3:bucket/logs/app.log | grep ERROR
  $ ferry cat work:/shared/a.txt work:/shared/b.txt > both.txt`,
  );
  cmd.action(async (args: string[], opts: ConnectionOpts) => {
    for (const loc of await resolveLocations(args, 'server')) {
      if (loc.kind === 'server') {
        await withServer(loc, opts, (client) =>
          withInterrupt(async (signal) => {
            const e = await client.stat(loc.path, { signal });
            if (e.type === 'dir') throw new IsADirectoryError(`${loc.path} is a directory`);
            await client.getStream(loc.path, process.stdout, { signal });
          }),
        );
        continue;
      }
      const { readPlace, withPlaces } = await import('../remote-fs.js');
      const { pipeline } = await import('node:stream/promises');
      await withPlaces([loc.spec], ([place]) =>
        withInterrupt(async (signal) => pipeline(await readPlace(place, signal), process.stdout, { end: false, signal })),
      );
    }
  });
}
