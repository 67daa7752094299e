import type { Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { addConnectionOptions, withClient, printJson, withInterrupt } from '../options.js';
import { targetOf, type MvCpOpts } from './mv.js';

export function registerCp(program: Command): void {
  const cmd = program
    .command('cp')
    .description('copy a remote file or tree (-r) on the server, by reference (no bytes are copied)')
    .argument('<src>', 'remote path')
    .argument('<dest>', 'remote path; an existing directory receives SRC inside it')
    .option('-r, --recursive', 'copy directories')
    .option('-n, --no-clobber', 'fail instead of replacing an existing file')
    .option('-T, --no-target-directory', 'treat DEST as the exact new path even if it is a directory')
    .option('--json', 'print the new entry as JSON')
    .option('-q, --quiet', 'print nothing but errors');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ ferry cp /isos/big.iso /isos/big-backup.iso
  $ ferry cp -r /photos /archive/photos-2026`,
  );
  cmd.action(async (src: string, destArg: string, opts: MvCpOpts) => {
    const from = normalizePath(src);
    await withClient(opts, async (client) => {
      const entry = await withInterrupt(async (signal) => {
        const e = await client.stat(from, { signal });
        if (e.type === 'dir' && !opts.recursive) throw new UsageError(`${from} is a directory: use -r to copy it`);
        const to = await targetOf(client, from, destArg, opts, signal);
        return client.copy(from, to, { overwrite: opts.clobber !== false, signal });
      });
      if (opts.json) printJson(entry);
    });
  });
}
