import type { Command } from 'commander';
import { FerryError, UsageError, isFerryError } from '../../core/errors.js';
import { addE2eOptions, secretOf, type E2eOpts } from '../e2e-flags.js';
import { endsInDot, resolveLocations } from '../location.js';
import { addConnectionOptions, addVerboseOption, printJson, withServer, withInterrupt, type ConnectionOpts } from '../options.js';

interface RmOpts extends ConnectionOpts, E2eOpts {
  recursive?: boolean;
  force?: boolean;
  dryRun?: boolean;
  verbose?: number;
  json?: boolean;
}

export function registerRm(program: Command): void {
  const cmd = program
    .command('rm')
    .description('remove files, empty directories, or trees (-r) on the server or any remote')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('-r, --recursive', 'remove directories and everything in them')
    .option('-f, --force', 'ignore paths that do not exist')
    .option('-n, --dry-run', 'show what would be removed; remove nothing')
    .option('--json', 'print {ok, dryRun, removed, missing} as JSON: the locations removed (with -n: that would be) and, with -f, those not found');
  addVerboseOption(cmd, 'print each removal');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On a Ferry server space is reclaimed later: chunks no longer referenced are
garbage-collected by the server. In an end-to-end folder (ferry mkdir --e2e) paths are
plain: the stored name is found with the key. A local location ending in . or .. (the
folder the command runs in, or above it) is refused, as rm refuses it.

Examples:
  $ ferry rm /isos/old.iso
  $ ferry rm -r /tmp/scratch
  $ ferry rm /vault/drafts/old-letter.txt     # plain name in a vault, asks for the passphrase
  $ ferry rm -rn s3:bucket/old-logs      # list what would go
  $ ferry rm -rf --json /tmp/a /tmp/b | jq -r '.removed[]'`,
  );
  cmd.action(async (args: string[], opts: RmOpts) => {
    const locations = await resolveLocations(args, 'server');
    const say = (line: string) => {
      if (opts.verbose || opts.dryRun) process.stderr.write(`${line}\n`);
    };
    // --json's report: each location as it was given, in order.
    const removed: string[] = [];
    const missing: string[] = [];
    const report = (extra: object) => printJson({ ...extra, dryRun: opts.dryRun === true, removed, missing });
    for (const loc of locations) {
      try {
        if (loc.kind !== 'server') {
          if (endsInDot(loc.spec)) throw new UsageError(`refusing to remove '.' or '..' (${loc.label}): name the folder`);
          const { removePlace, withPlaces } = await import('../remote-fs.js');
          await withPlaces([loc.spec], ([place]) =>
            withInterrupt((signal) => removePlace(place, { recursive: opts.recursive, dryRun: opts.dryRun, signal, onAction: say })),
          );
          removed.push(loc.label);
          continue;
        }
        const p = loc.path;
        if (p === '/') throw new UsageError('refusing to remove the root');
        await withServer(loc, opts, (client) =>
          withInterrupt(async (signal) => {
            // In an end-to-end folder the plain path names a stored (encrypted) one.
            const { serverPathFor } = await import('../e2e-run.js');
            const at = await serverPathFor(client, p, secretOf(opts), signal);
            if (opts.dryRun) {
              const e = await client.stat(at, { signal });
              if (e.type === 'dir' && !opts.recursive) throw new UsageError(`${p} is a directory: use -r`);
              say(`(dry run) delete ${p}${e.type === 'dir' ? '/ and everything in it' : ''}`);
              return;
            }
            await client.remove(at, { recursive: opts.recursive, signal });
            say(`delete ${p}`);
          }),
        );
        removed.push(loc.label);
      } catch (caught) {
        if (opts.force && isFerryError(caught, 'FERRY_ERR_NOT_FOUND')) {
          missing.push(loc.label);
          continue;
        }
        const err =
          isFerryError(caught, 'FERRY_ERR_DIRECTORY_NOT_EMPTY') && !opts.recursive
            ? new FerryError(caught.code, `${loc.label} is a directory that is not empty: use -r`, { cause: caught })
            : caught;
        // As put and get do: stdout says what was done before the error, stderr the error.
        if (opts.json && isFerryError(err)) report({ ok: false, error: err.toJSON() });
        throw err;
      }
    }
    if (opts.json) report({ ok: true });
  });
}
