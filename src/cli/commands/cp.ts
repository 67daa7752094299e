import { placeEntryJson } from '../format.js';
import type { Command } from 'commander';
import type { Entry } from '../../core/protocol.js';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, withServer, printJson, withInterrupt } from '../options.js';
import { addE2eOptions } from '../e2e-flags.js';
import { addIfMatchOption, onServer, oneServer, transferBetween, type MvCpOpts } from './mv.js';
import { refuseIfMatchWith } from '../if-match.js';

export function registerCp(program: Command): void {
  const cmd = program
    .command('cp')
    .description('copy a file or tree (-r): on the server by reference (no bytes are copied), or between any remotes')
    .argument('<src>', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .argument('<dest>', 'the same forms; an existing directory receives SRC inside it')
    .option('-r, --recursive', 'copy directories')
    .option('--no-clobber', 'fail instead of replacing an existing file')
    .option('-T, --no-target-directory', 'treat DEST as the exact new path even if it is a directory')
    .option('-n, --dry-run', 'show what would be copied; copy nothing')
    .option('--json', 'print the new entry as JSON')
    .option('-q, --quiet', 'print nothing but errors');
  addIfMatchOption(cmd, 'copy');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
For many files between stores, with filters, checks and parallel transfers, use ferry copy.
In an end-to-end folder (ferry mkdir --e2e) paths are plain and the copy's names are
encrypted here (see ferry mv --help).

Examples:
  $ ferry cp /isos/big.iso /isos/big-backup.iso
  $ ferry cp -r /photos /archive/photos-2026
  $ ferry cp -r /vault/2026 /vault/2026-backup          (plain names, encrypted here)
  $ ferry cp s3:bucket/report.pdf ./report.pdf`,
  );
  cmd.action(async (src: string, destArg: string, opts: MvCpOpts) => {
    const [from, to] = await resolveLocations([src, destArg], 'server');
    if (opts.ifMatch !== undefined) refuseIfMatchWith(oneServer(from, to) !== undefined, opts);
    let entry: Entry;
    const same = oneServer(from, to);
    if (same) {
      const [a, b] = same;
      entry = await withServer(a, opts, (client) => withInterrupt((signal) => onServer('copy', client, a.path, destArg.endsWith('/') ? b.path + '/' : b.path, opts, signal)));
    } else {
      entry = await transferBetween(from, to, destArg, opts, false);
    }
    if (opts.json) printJson(placeEntryJson(entry)) // mtime null, not 0 (1970), where the store keeps none;
  });
}
