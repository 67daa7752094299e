import type { Command } from 'commander';
import { FerryError, UsageError, isFerryError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { addConnectionOptions, withClient, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerRm(program: Command): void {
  const cmd = program
    .command('rm')
    .description('remove remote files, empty directories, or trees (-r)')
    .argument('<paths...>', 'remote paths')
    .option('-r, --recursive', 'remove directories and everything in them')
    .option('-f, --force', 'ignore paths that do not exist');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Space is reclaimed later: chunks no longer referenced are garbage-collected by the server.

Examples:
  $ ferry rm /isos/old.iso
  $ ferry rm -r /tmp/scratch`,
  );
  cmd.action(async (paths: string[], opts: ConnectionOpts & { recursive?: boolean; force?: boolean }) => {
    const targets = paths.map((p) => normalizePath(p));
    if (targets.includes('/')) throw new UsageError('refusing to remove the root');
    await withClient(opts, async (client) => {
      await withInterrupt(async (signal) => {
        for (const p of targets) {
          try {
            await client.remove(p, { recursive: opts.recursive, signal });
          } catch (err) {
            if (opts.force && isFerryError(err, 'FERRY_ERR_NOT_FOUND')) continue;
            if (isFerryError(err, 'FERRY_ERR_DIRECTORY_NOT_EMPTY') && !opts.recursive) {
              throw new FerryError(err.code, `${p} is a directory that is not empty: use -r`, { cause: err });
            }
            throw err;
          }
        }
      });
    });
  });
}
