import type { Command } from 'commander';
import { countOf, formatSize } from '../../core/units.js';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, printJson, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';

export function registerSize(program: Command): void {
  const cmd = program
    .command('size')
    .alias('du')
    .description('count the files and bytes below a directory, on the server or any remote (rclone size)')
    .argument('[location]', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/x, ./dir', '/')
    .option('--json', 'print {files, bytes} as JSON');
  addConnectionOptions(cmd);
  addE2eOptions(cmd);
  cmd.addHelpText(
    'after',
    `
In an end-to-end folder (vault) a path named in plain is looked up with the key (asked for
unless given): the server never sees its plain names. Bytes are the stored (encrypted) ones.

Examples:
  $ ferry size /photos
  $ ferry du --json s3:bucket/backups | jq .bytes`,
  );
  cmd.action(async (arg: string, opts: ConnectionOpts & E2eOpts & { json?: boolean }) => {
    const [loc] = await resolveLocations([arg], 'server');
    let total: { files: number; bytes: number };
    if (loc.kind === 'server') {
      total = await withServer(loc, opts, (client) =>
        withInterrupt(async (signal) => {
          const { pathToSend } = await import('../e2e-run.js');
          const path = await pathToSend(client, loc.path, opts, signal);
          const e = await client.stat(path, { signal });
          if (e.type === 'file') return { files: 1, bytes: e.size };
          const t = { files: 0, bytes: 0 };
          for await (const x of client.list(path, { recursive: true, signal })) {
            if (x.type !== 'file') continue;
            t.files++;
            t.bytes += x.size;
          }
          return t;
        }),
      );
    } else {
      const { sizeOfPlace, withPlaces } = await import('../remote-fs.js');
      total = await withPlaces([loc.spec], ([place]) => withInterrupt((signal) => sizeOfPlace(place, signal)));
    }
    if (opts.json) return printJson(total);
    process.stdout.write(`${countOf(total.files, 'file')}, ${formatSize(total.bytes)} (${total.bytes} bytes)\n`);
  });
}
