import type { Command } from 'commander';
import type { FerryClient } from '../../client/client.js';
import type { Entry } from '../../core/protocol.js';
import { baseName, joinPath, normalizePath } from '../../core/path.js';
import { UsageError } from '../../core/errors.js';
import { resolveLocations, type Location } from '../location.js';
import { addConnectionOptions, withServer, printJson, withInterrupt, type ConnectionOpts } from '../options.js';

export interface MvCpOpts extends ConnectionOpts {
  clobber?: boolean;
  targetDirectory?: boolean;
  recursive?: boolean;
  dryRun?: boolean;
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

/** Both places on one Ferry server: the server moves or copies by reference. */
function oneServer(a: Location, b: Location): [Extract<Location, { kind: 'server' }>, Extract<Location, { kind: 'server' }>] | undefined {
  return a.kind === 'server' && b.kind === 'server' && a.server === b.server ? [a, b] : undefined;
}

/**
 * mv and cp between different stores (or not on a Ferry server): bytes travel through this
 * process, or the store's own copy/move when both places are in one store.
 */
export async function transferBetween(from: Location, to: Location, destArg: string, opts: MvCpOpts, move: boolean): Promise<Entry> {
  const { transferPlace, withPlaces } = await import('../remote-fs.js');
  const { placesEnv } = await import('../remote-transfer.js');
  const env = placesEnv(opts);
  return withPlaces(
    [from.spec, to.spec],
    ([a, b]) =>
      withInterrupt((signal) =>
        transferPlace(a, b, {
          move,
          into: opts.targetDirectory === false ? false : destArg.endsWith('/') ? true : undefined,
          recursive: opts.recursive || move,
          noClobber: opts.clobber === false,
          dryRun: opts.dryRun,
          signal,
          onAction: opts.dryRun ? (l) => process.stderr.write(l + '\n') : undefined,
        }),
      ),
    env,
  );
}

export function registerMv(program: Command): void {
  const cmd = program
    .command('mv')
    .description('move or rename a file or directory, on the server (no bytes are copied) or between any remotes')
    .argument('<src>', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .argument('<dest>', 'the same forms; an existing directory receives SRC inside it')
    .option('--no-clobber', 'fail instead of replacing an existing file')
    .option('-T, --no-target-directory', 'treat DEST as the exact new path even if it is a directory')
    .option('-n, --dry-run', 'show what would be moved; move nothing')
    .option('--json', 'print the moved entry as JSON')
    .option('-q, --quiet', 'print nothing but errors');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On one Ferry server a move is a rename. Between two stores each file is copied, checked
by the store's write, then removed from the source.

Examples:
  $ ferry mv /inbox/report.pdf /archive/2026/
  $ ferry mv /photos/tmp /photos/2026-11
  $ ferry mv s3:bucket/upload.bin ferry:/inbox/`,
  );
  cmd.action(async (src: string, destArg: string, opts: MvCpOpts) => {
    const [from, to] = await resolveLocations([src, destArg], 'server');
    let entry: Entry;
    const same = oneServer(from, to);
    if (same) {
      const [from, to] = same;
      if (from.path === '/') throw new UsageError('cannot move the root');
      entry = await withServer(from, opts, (client) =>
        withInterrupt(async (signal) => {
          const target = await targetOf(client, from.path, destArg.endsWith('/') ? to.path + '/' : to.path, opts, signal);
          if (opts.dryRun) {
            process.stderr.write(`(dry run) move ${from.path} -> ${target}\n`);
            return client.stat(from.path, { signal });
          }
          return client.move(from.path, target, { overwrite: opts.clobber !== false, signal });
        }),
      );
    } else {
      entry = await transferBetween(from, to, destArg, opts, true);
    }
    if (opts.json) printJson(entry);
  });
}
