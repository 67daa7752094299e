import type { Command } from 'commander';
import { IsADirectoryError, UsageError, isFerryError } from '../../core/errors.js';
import { ExitError, debugWanted, exitCodeOfAll, reportError } from '../exit.js';
import { isBrokenPipe } from '../stdout.js';
import { refuseClosedStream } from '../local-dest.js';
import { resolveLocations, type Location } from '../location.js';
import { addConnectionOptions, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { positive } from './versions.js';

/** Help shared by cat and get: what `--version ID` checks, and what it does not read. */
export const VERSION_HELP = `--version ID reads an old version (an id from ferry versions PATH) without restoring it,
through GET /api/v1/files/PATH?version=ID. Checked: the byte count equals the version's
listed size (else FERRY_ERR_SIZE_MISMATCH) and the bytes match its listed file hash (else
FERRY_ERR_HASH_MISMATCH). ferry get writes DEST.vID.ferry-part and renames it to DEST only
once both hold (an interrupted plain get's DEST.ferry-part is left to resume from); to
stdout the check ends after the bytes went out, so a failure is reported (message, exit
status) once they are written. An id PATH does not have is the server's
FERRY_ERR_NOT_FOUND. Old versions of files in an end-to-end folder (vault) are not read
here (FERRY_ERR_UNSUPPORTED): restore one with ferry restore PATH --version ID, then get it.`;

interface CatOpts extends ConnectionOpts, E2eOpts {
  version?: number;
}

export function registerCat(program: Command): void {
  const cmd = program
    .command('cat')
    .description('write files to stdout, from the server or any remote, one after the other')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('--version <id>', 'an old version of the file (an id from ferry versions), not restored', positive);
  addConnectionOptions(cmd);
  addE2eOptions(cmd);
  cmd.addHelpText(
    'after',
    `
The bytes are verified as they go out (on a Ferry server, every chunk against its hash).
ferry get FILE - does the same for one file, with resume and progress. Files of an
end-to-end folder (vault), or put with --encrypt, come out decrypted, as with get (the key
asked for unless given); the server never sees a plain name of a vault.
As cat(1), a location that cannot be read is reported on stderr and the next ones are
still written; the exit status is then nonzero.
${VERSION_HELP}

Examples:
  $ ferry cat /notes/todo.txt
  $ ferry cat s3:bucket/logs/app.log | grep ERROR
  $ ferry cat work:/shared/a.txt work:/shared/b.txt > both.txt
  $ ferry cat --version 42 /notes/todo.txt    # version 42, the current file unchanged`,
  );
  cmd.action(async (args: string[], opts: CatOpts) => {
    refuseClosedStream(1);
    const locs = await resolveLocations(args, 'server');
    if (opts.version !== undefined && (locs.length !== 1 || locs[0].kind !== 'server')) throw new UsageError('--version reads one file of a Ferry server');
    // As cat(1): a location that cannot be read is reported and the others are still
    // written; the exit status says that something failed. Ctrl-C, a closed stdout and bugs
    // stop at once.
    const failed: unknown[] = [];
    for (const loc of locs) {
      try {
        await catOne(loc, opts);
      } catch (err) {
        if (!isFerryError(err) || err.code === 'FERRY_ERR_ABORTED' || isBrokenPipe()) throw err;
        failed.push(err);
        reportError(err, { debug: debugWanted() });
      }
    }
    if (failed.length > 0) throw new ExitError(exitCodeOfAll(failed));
  });
}

async function catOne(loc: Location, opts: CatOpts): Promise<void> {
  if (loc.kind === 'server') {
    await withServer(loc, opts, (client) =>
      withInterrupt(async (signal) => {
        if (opts.version !== undefined) {
          return void (await client.getVersionStream(loc.path, opts.version, process.stdout, { signal }));
        }
        // As get: inside a vault only stored names are sent, and encrypted files are decrypted.
        const { getEndToEnd, getTarget } = await import('../e2e-run.js');
        const target = await getTarget(client, loc.path, opts, signal);
        if (target.kind === 'e2e') return void (await getEndToEnd(client, target.serverPath, '-', opts, { signal }));
        if (target.entry.type === 'dir') throw new IsADirectoryError(`${loc.path} is a directory`);
        await client.getStream(loc.path, process.stdout, { signal });
      }),
    );
    return;
  }
  const { readPlace, withPlaces } = await import('../remote-fs.js');
  const { pipeline } = await import('node:stream/promises');
  await withPlaces([loc.spec], ([place]) =>
    withInterrupt(async (signal) => pipeline(await readPlace(place, signal), process.stdout, { end: false, signal })),
  );
}
