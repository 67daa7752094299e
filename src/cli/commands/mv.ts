import type { Command } from 'commander';
import type { FerryClient } from '../../client/client.js';
import { baseName, joinPath, normalizePath } from '../../core/path.js';
import { UsageError } from '../../core/errors.js';
import { addConnectionOptions, withClient, printJson, withInterrupt, type ConnectionOpts } from '../options.js';

export interface MvCpOpts extends ConnectionOpts {
  clobber?: boolean;
  targetDirectory?: boolean;
  recursive?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/**
 * Where SRC lands for mv/cp: into DEST when DEST is an existing directory (like mv(1)),
 * unless -T says DEST is the exact target.
 */
export async function targetOf(client: FerryClient, src: string, destArg: string, opts: MvCpOpts, signal: AbortSignal): Promise<string> {
  const dest = normalizePath(destArg);
  if (opts.targetDirectory === false) return dest;
  if (destArg.endsWith('/')) return joinPath(dest, baseName(src));
  const e = await client.statIfExists(dest, { signal });
  return e?.type === 'dir' ? joinPath(dest, baseName(src)) : dest;
}

export function registerMv(program: Command): void {
  const cmd = program
    .command('mv')
    .description('move or rename a remote file or directory (no bytes are copied)')
    .argument('<src>', 'remote path')
    .argument('<dest>', 'remote path; an existing directory receives SRC inside it')
    .option('-n, --no-clobber', 'fail instead of replacing an existing file')
    .option('-T, --no-target-directory', 'treat DEST as the exact new path even if it is a directory')
    .option('--json', 'print the moved entry as JSON')
    .option('-q, --quiet', 'print nothing but errors');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ ferry mv /inbox/report.pdf /archive/2026/
  $ ferry mv /photos/tmp /photos/2026-11`,
  );
  cmd.action(async (src: string, destArg: string, opts: MvCpOpts) => {
    const from = normalizePath(src);
    if (from === '/') throw new UsageError('cannot move the root');
    await withClient(opts, async (client) => {
      const entry = await withInterrupt(async (signal) => {
        const to = await targetOf(client, from, destArg, opts, signal);
        return client.move(from, to, { overwrite: opts.clobber !== false, signal });
      });
      if (opts.json) printJson(entry);
    });
  });
}
