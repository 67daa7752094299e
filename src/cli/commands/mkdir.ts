import type { Command } from 'commander';
import { resolveLocations, type Location } from '../location.js';
import { AlreadyExistsError, NotADirectoryError, NotFoundError, UsageError, ferryErrorOf, isFerryError, type FerryError } from '../../core/errors.js';
import { ExitError, debugWanted, errorJson, exitCodeOfAll, reportError } from '../exit.js';
import { parentPath } from '../../core/path.js';
import type { FerryClient } from '../../client/client.js';
import { addConnectionOptions, printJson, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { E2E_HELP, addE2eOptions, secretOf, type E2eOpts } from '../e2e-flags.js';
import { terminalSafe } from '../terminal-text.js';

export function registerMkdir(program: Command): void {
  const cmd = program
    .command('mkdir')
    .description('create directories on the server or any remote')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, sftp://host/dir, ./dir')
    .option('-p, --parents', 'create parents as needed; no error if the directory exists')
    .option('-n, --dry-run', 'say what would be made (on stderr), make nothing; the same refusals as a real run')
    .option('-q, --quiet', 'print nothing but errors (not even -n\'s lines)')
    .option('--e2e', 'an end-to-end folder on a Ferry server: everything put into it is encrypted here, names too')
    .option('--json', 'print {ok, made, existed, implied, failed} as JSON: the locations made, those already there (-p), those on stores where directories are implied, and those that failed with their error');
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On stores whose directories are implied by their keys (S3, memory) there is nothing to
make: a directory appears with its first file, as with rclone.

Examples:
  $ ferry mkdir /photos
  $ ferry mkdir -p /backup/2026/11
  $ ferry mkdir -p nas:/srv/inbox
  $ ferry mkdir -p --json /backup/2026/11 /backup/2026/12 | jq -r '.made[]'
  $ ferry mkdir -pn /backup/2026/11 ./local/dir     # dry run: (dry run) mkdir ...
${E2E_HELP}
The folder's marker (.ferry-e2e) keeps the key's salt and check value, never the key.
  $ ferry mkdir --e2e /vault                       (asks for the passphrase)
  $ ferry mkdir --e2e --e2e-key-file ~/.ferry-key /vault
In such a folder paths are plain and the new folder's name is encrypted here:
  $ ferry mkdir -p /vault/2026/letters             (asks for the passphrase)`,
  );
  cmd.action(async (args: string[], opts: MkdirOpts) => {
    const locations = await resolveLocations(args, 'server');
    // --json's report: each location as it was given, in order.
    const done: Record<'made' | 'existed' | 'implied', string[]> = { made: [], existed: [], implied: [] };
    const failed: { location: string; error: FerryError }[] = [];
    const report = (extra: object) =>
      printJson({ ...extra, ...(opts.dryRun ? { dryRun: true } : {}), ...done, failed: failed.map((f) => ({ location: f.location, error: errorJson(f.error) })) });
    // As mkdir(1) and rm: a location that cannot be made is reported and the others are
    // still made; the exit status says that something failed. Ctrl-C and bugs stop at once.
    for (const loc of locations) {
      try {
        const how = await mkdirAt(loc, opts);
        if (opts.dryRun && !opts.quiet && how === 'made') process.stderr.write(`(dry run) mkdir ${terminalSafe(loc.label)}\n`);
        done[how].push(loc.label);
      } catch (err) {
        if (!isFerryError(err) || err.code === 'FERRY_ERR_ABORTED') {
          // As put and get do: stdout says what was done before the error, stderr the error.
          if (opts.json && isFerryError(err)) report({ ok: false, error: errorJson(err) });
          throw err;
        }
        // As rm says "use -r": the flag that makes a folder already there no error.
        const said = err.code === 'FERRY_ERR_ALREADY_EXISTS' && !opts.parents ? ferryErrorOf(err.code, `${err.message} (-p: no error if it is a folder)`, { cause: err, details: err.details }) : err;
        failed.push({ location: loc.label, error: said });
        reportError(said, { json: opts.json, debug: debugWanted() });
      }
    }
    if (opts.json) report(failed.length === 0 ? { ok: true } : { ok: false, error: errorJson(failed[0].error) });
    if (failed.length > 0) throw new ExitError(exitCodeOfAll(failed.map((f) => f.error)));
  });
}

/**
 * Makes one directory. 'existed': -p found it there (asked only with --json, which reports
 * it: a Ferry server's mkdir -p answers the same either way); 'implied': a store whose
 * directories are implied by their keys, where there is nothing to make.
 */
async function mkdirAt(loc: Location, opts: MkdirOpts): Promise<'made' | 'existed' | 'implied'> {
  if (loc.kind === 'server') {
    return withServer(loc, opts, (client) =>
      withInterrupt(async (signal) => {
        if (opts.dryRun) return wouldMkdir(client, loc.path, opts, signal);
        const { mkdirEndToEnd, mkdirInVault, serverPathFor } = await import('../e2e-run.js');
        if (opts.e2e) {
          await mkdirEndToEnd(client, loc.path, opts, signal);
          return 'made';
        }
        if (opts.parents && opts.json) {
          const at = await serverPathFor(client, loc.path, secretOf(opts), signal).catch((err: unknown) => {
            if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
            throw err;
          });
          const there = at === undefined ? undefined : await client.statIfExists(at, { signal });
          if (there?.type === 'dir') return 'existed';
        }
        if (!(await mkdirInVault(client, loc.path, secretOf(opts), { parents: opts.parents, signal }))) await client.mkdir(loc.path, { parents: opts.parents, signal });
        return 'made';
      }),
    );
  }
  if (opts.e2e) throw new UsageError(`--e2e folders are on a Ferry server; ${loc.label} is not one`);
  const { mkdirPlace, withPlaces } = await import('../remote-fs.js');
  return withPlaces([loc.spec], ([place]) => withInterrupt((signal) => mkdirPlace(place, { parents: opts.parents, dryRun: opts.dryRun, signal })));
}

interface MkdirOpts extends ConnectionOpts, E2eOpts {
  parents?: boolean;
  e2e?: boolean;
  json?: boolean;
  quiet?: boolean;
  dryRun?: boolean;
}

/**
 * -n on a server: what a real run would answer, asked with stats (a plain path in a vault
 * is looked up under its encrypted name, as rm -n does).
 */
async function wouldMkdir(client: FerryClient, path: string, opts: MkdirOpts, signal: AbortSignal): Promise<'made' | 'existed'> {
  const { serverPathFor } = await import('../e2e-run.js');
  const find = async (p: string) => {
    const at = await serverPathFor(client, p, secretOf(opts), signal).catch((err: unknown) => {
      if (isFerryError(err, 'FERRY_ERR_NOT_FOUND')) return undefined;
      throw err;
    });
    return at === undefined ? undefined : client.statIfExists(at, { signal });
  };
  const there = await find(path);
  if (there?.type === 'file') throw new AlreadyExistsError(`${path}: a file exists there`, { details: { path } });
  if (there !== undefined) {
    if (opts.parents && !opts.e2e) return 'existed';
    throw new AlreadyExistsError(`${path}: already exists`, { details: { path } });
  }
  // The nearest folder above that is there must be a folder, and without -p the parent itself.
  for (let up = parentPath(path); ; up = parentPath(up)) {
    const above = up === '/' ? ({ type: 'dir' } as const) : await find(up);
    if (above?.type === 'file') throw new NotADirectoryError(`${up}: not a directory`, { details: { path: up } });
    if (above !== undefined) return 'made';
    if (!opts.parents) throw new NotFoundError(`${up}: no such directory`, { details: { path: up } });
  }
}
