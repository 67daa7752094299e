import type { Command } from 'commander';
import { FerryError, NotADirectoryError, UsageError, isFerryError, ferryErrorOf } from '../../core/errors.js';
import { ExitError, debugWanted, errorJson, exitCodeOfAll, reportError } from '../exit.js';
import { addE2eOptions, secretOf, type E2eOpts } from '../e2e-flags.js';
import { endsInDot, resolveLocations, type Location } from '../location.js';
import { addConnectionOptions, addVerboseOption, printJson, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { terminalSafe } from '../terminal-text.js';
import { etagArg, refuseIfMatchWith } from '../if-match.js';

interface RmOpts extends ConnectionOpts, E2eOpts {
  recursive?: boolean;
  force?: boolean;
  dryRun?: boolean;
  verbose?: number;
  json?: boolean;
  quiet?: boolean;
  /** --if-match: remove the file only if it still has this ETag. */
  ifMatch?: string;
}

export function registerRm(program: Command): void {
  const cmd = program
    .command('rm')
    .description('remove files, empty directories, or trees (-r) on the server or any remote')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('-r, --recursive', 'remove directories and everything in them')
    .option('-f, --force', 'ignore paths that do not exist')
    .option('-n, --dry-run', 'show what would be removed; remove nothing')
    .option('-q, --quiet', 'print nothing but errors (not even -n\'s or -v\'s lines)')
    .option('--json', 'print {ok, dryRun, removed, missing, failed} as JSON: the locations removed (with -n: that would be), with -f those not found, and those that failed with their error');
  cmd.option('--if-match <etag>', 'one file: remove it only if it still has this ETag (as ferry stat --json gives it; the hash alone works too): fail (exit 6) if it changed meanwhile', etagArg);
  addVerboseOption(cmd, 'print each removal');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On a Ferry server space is reclaimed later: chunks no longer referenced are
garbage-collected by the server. In an end-to-end folder (ferry mkdir --e2e) paths are
plain: the stored name is found with the key. A local location ending in . or .. (the
folder the command runs in, or above it) is refused, as rm refuses it, and one written
with a trailing slash (NAME/) must be a directory. As rm(1), a location that cannot be
removed is reported and the others are still removed; the exit status is then nonzero.

Examples:
  $ ferry rm /isos/old.iso
  $ ferry rm -r /tmp/scratch
  $ ferry rm /vault/drafts/old-letter.txt     # plain name in a vault, asks for the passphrase
  $ ferry rm -rn s3:bucket/old-logs      # list what would go
  $ ferry rm -rf --json /tmp/a /tmp/b | jq -r '.removed[]'`,
  );
  cmd.action(async (args: string[], opts: RmOpts) => {
    const locations = await resolveLocations(args, 'server');
    if (opts.ifMatch !== undefined) {
      refuseIfMatchWith(locations.every((l) => l.kind === 'server'), opts);
      if (locations.length !== 1 || opts.recursive) throw new UsageError('--if-match is about one file: give one location, without -r');
    }
    const say = (line: string) => {
      if ((opts.verbose || opts.dryRun) && !opts.quiet) process.stderr.write(`${terminalSafe(line)}\n`);
    };
    // --json's report: each location as it was given, in order.
    const removed: string[] = [];
    const missing: string[] = [];
    const failed: { location: string; error: FerryError }[] = [];
    const report = (extra: object) =>
      printJson({ ...extra, dryRun: opts.dryRun === true, removed, missing, failed: failed.map((f) => ({ location: f.location, error: errorJson(f.error) })) });
    // As rm(1): a location that cannot be removed is reported and the others are still
    // removed; the exit status says that something failed. Ctrl-C and bugs stop at once.
    for (const [i, loc] of locations.entries()) {
      try {
        await removeOne(loc, isDirSpelling(args[i]), opts, say);
        removed.push(loc.label);
      } catch (caught) {
        if (opts.force && isMissing(caught)) {
          missing.push(loc.label);
          continue;
        }
        if (!isFerryError(caught) || caught.code === 'FERRY_ERR_ABORTED') {
          // As put and get do: stdout says what was done before the error, stderr the error.
          if (opts.json && isFerryError(caught)) report({ ok: false, error: errorJson(caught) });
          throw caught;
        }
        const err =
          caught.code === 'FERRY_ERR_DIRECTORY_NOT_EMPTY' && !opts.recursive
            ? ferryErrorOf(caught.code, `${loc.label} is a directory that is not empty: use -r`, { cause: caught })
            : caught;
        failed.push({ location: loc.label, error: err });
        reportError(err, { json: opts.json, debug: debugWanted() });
      }
    }
    if (opts.json) report(failed.length === 0 ? { ok: true } : { ok: false, error: errorJson(failed[0].error) });
    if (failed.length > 0) throw new ExitError(exitCodeOfAll(failed.map((f) => f.error)));
  });
}

/**
 * For -f, whether the location is not there: the server's "not found", or a plain name the
 * server does not have in a folder holding files put with --encrypt, when no key was given to
 * look among their names (FERRY_ERR_CRYPTO_KEY_MISSING caused by that "not found"). rm -f
 * cannot remove what it cannot name, and asking for a key to remove nothing breaks its promise.
 */
function isMissing(err: unknown): boolean {
  if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return true;
  return isFerryError(err, 'FERRY_ERR_CRYPTO_KEY_MISSING') && isFerryError(err.cause, 'FERRY_ERR_NOT_FOUND');
}

/**
 * A location written with a trailing slash (`name/`) names a directory: rm(1) refuses a
 * file spelled so ("Not a directory") and removes nothing.
 */
function isDirSpelling(arg: string): boolean {
  return /[^/]\/+$/.test(arg);
}

async function removeOne(loc: Location, asDir: boolean, opts: RmOpts, say: (line: string) => void): Promise<void> {
  const notADir = () => new NotADirectoryError(`${loc.label.replace(/\/*$/, '/')}: not a directory`);
  if (loc.kind !== 'server') {
    if (endsInDot(loc.spec)) throw new UsageError(`refusing to remove '.' or '..' (${loc.label}): name the folder`);
    const { removePlace, withPlaces } = await import('../remote-fs.js');
    const { SkippedNames } = await import('../skipped-names.js');
    const skipped = new SkippedNames(opts);
    await withPlaces([loc.spec], ([place]) =>
      withInterrupt((signal) => removePlace(place, { recursive: opts.recursive, dryRun: opts.dryRun, signal, onAction: say, onFile: asDir ? notADir : undefined, skipped })),
    );
    return;
  }
  const p = loc.path;
  if (p === '/') throw new UsageError('refusing to remove the root');
  await withServer(loc, opts, (client) =>
    withInterrupt(async (signal) => {
      // In an end-to-end folder the plain path names a stored (encrypted) one.
      const { serverPathFor } = await import('../e2e-run.js');
      const at = await serverPathFor(client, p, secretOf(opts), signal);
      if (opts.dryRun || asDir) {
        const e = await client.stat(at, { signal });
        if (e.type !== 'dir' && asDir) throw notADir();
        if (opts.dryRun) {
          if (e.type === 'dir' && !opts.recursive) throw new UsageError(`${p} is a directory: use -r`);
          say(`(dry run) delete ${p}${e.type === 'dir' ? '/ and everything in it' : ''}`);
          return;
        }
      }
      await client.remove(at, { recursive: opts.recursive, ifMatch: opts.ifMatch, signal });
      say(`delete ${p}`);
    }),
  );
}
