import type { Command } from 'commander';
import type { Entry } from '../../core/protocol.js';
import { isFerryError } from '../../core/errors.js';
import { relativePath } from '../../core/path.js';
import { formatMode, formatTime, placeEntryJson } from '../format.js';
import { addConnectionOptions, withServer, withInterrupt, type ConnectionOpts } from '../options.js';
import { resolveLocations } from '../location.js';
import { writeStdout as out } from '../stdout.js';
import { terminalSafe } from '../terminal-text.js';
import { E2E_HELP, addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { E2E_MARKER_NAME, E2E_NAME_SUFFIX, isE2eMarkerPath, isE2eName } from '../../core/e2e-layout.js';

interface LsOpts extends ConnectionOpts, E2eOpts {
  all?: boolean;
  long?: boolean;
  recursive?: boolean;
  json?: boolean;
}

export function registerLs(program: Command): void {
  const cmd = program
    .command('ls')
    .description('list a directory (or file) on the server or any remote')
    .argument('[location]', 'a server path (/dir, ferry:/dir), NAME:path, s3:bucket/x, sftp://host/x, ./dir', '/')
    .option('-l, --long', 'long format: mode, size in bytes, modification time, name')
    .option('-R, --recursive', 'list every entry below, as paths relative to PATH')
    .option('-a, --all', `also list Ferry's own marker files (${E2E_MARKER_NAME}: an end-to-end folder's key parameters), left out otherwise`)
    .option(
      '--json',
      `print a JSON array of entries {path, name, type, size, mtime, mode, hash, chunks}; path is a location to pass back to ferry (./dir/x, s3:bucket/x, a server path); mtime is null where the store keeps no time; Ferry's markers are always in it, with "marker": true, and files of put --encrypt listed without the key with "encrypted": true`,
    );
  addE2eOptions(cmd);
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Directories are shown with a trailing '/'. Entries come sorted by path. A bare path is
on the logged-in server (ferry:PATH); ./dir or local:/dir lists a local directory.
Ferry's own markers (${E2E_MARKER_NAME}, made by mkdir --e2e and the first put --encrypt) are
left out unless -a; --json lists them with "marker": true. A listing decrypted with the
passphrase leaves them out in any case. Files of put --encrypt in an ordinary folder are
shown by their plain names with the passphrase; without it by their stored names (ending
${E2E_NAME_SUFFIX}), with a note on stderr (with --json, "encrypted": true instead).

Examples:
  $ ferry ls /isos
  $ ferry ls work:/shared          # another Ferry server or any named remote
  $ ferry ls -R s3:bucket/logs
  $ ferry ls -l /
  $ ferry ls -R --json /backup | jq '.[] | select(.type == "file") | .path'
${E2E_HELP}
In an end-to-end folder, names are shown decrypted when the passphrase is given
(--passphrase-file, FERRY_E2E_PASSPHRASE); otherwise as stored, with a note. With the
passphrase, -l and --json show each encrypted file's own size and modification time, read
from its sealed header: one more read per file (its first chunk), eight at a time; without
it, the stored size (the plain size plus the header and 16 bytes a chunk) and upload time.
  $ FERRY_E2E_PASSPHRASE=... ferry ls -l /vault`,
  );
  cmd.action(async (pathArg: string, opts: LsOpts) => {
    const [loc] = await resolveLocations([pathArg], 'server');
    if (loc.kind !== 'server') {
      const { entryAtLocation, listPlace, locationOf, withPlaces } = await import('../remote-fs.js');
      await withPlaces([loc.spec], ([place]) =>
        withInterrupt((signal) =>
          printEntries(
            listPlace(place, { recursive: opts.recursive, signal, onSkip: (key, reason) => warnSkipped(locationOf(place, key), reason) }),
            '/' + place.key,
            opts,
            (e) => placeEntryJson(entryAtLocation(place, e)),
            false,
          ),
        ),
      );
      return;
    }
    const path = loc.path;
    await withServer(loc, opts, async (client) => {
      await withInterrupt(async (signal) => {
        // `ls FILE` shows the file, like ls(1).
        // Files of put --encrypt in an ordinary folder, listed without the key: their stored names.
        let encrypted = 0;
        const all = async function* (): AsyncGenerator<Entry> {
          let any = false;
          const e2e = await (await import('../e2e-run.js')).listEndToEnd(client, path, opts, signal, opts.long === true || opts.json === true, opts.recursive === true);
          if (e2e) return yield* e2e;
          try {
            for await (const e of client.list(path, { recursive: opts.recursive, signal })) {
              any = true;
              if (e.type === 'file' && isE2eName(e.name)) encrypted++;
              yield e;
            }
          } catch (err) {
            if (any || !isFerryError(err, 'FERRY_ERR_NOT_A_DIRECTORY')) throw err;
            yield await client.stat(path, { signal });
          }
        };
        await printEntries(all(), path, opts, (e) => (e.type === 'file' && isE2eName(e.name) ? { ...e, encrypted: true } : e));
        // With --json the entries say it ("encrypted": true): stderr stays for errors.
        if (encrypted > 0 && !opts.json) {
          const which = encrypted === 1 ? '1 name is' : `${encrypted} names are`;
          process.stderr.write(`ferry: ${which} end-to-end encrypted (put --encrypt), shown as stored: give --passphrase-file FILE or FERRY_E2E_PASSPHRASE to see ${encrypted === 1 ? 'it' : 'them'}\n`);
        }
      });
    });
  });
}

/** What a local listing leaves out (a link not followed, a name no Ferry path can hold), said as sync says it. */
function warnSkipped(where: string, reason: string): void {
  process.stderr.write(`ferry: warning: skipped ${terminalSafe(where)}: ${terminalSafe(reason)}\n`);
}

/**
 * Prints entries below `base` (names, -l, -R relative paths, or --json). `onServer`: a
 * missing mode is a server folder's, shown as the usual `drwxr-xr-x`; elsewhere the store did
 * not say (a local file's own mode is not listed, S3 has none): `?`s, never a made-up one.
 */
async function printEntries(all: AsyncIterable<Entry>, base: string, opts: LsOpts, toJson: (e: Entry) => unknown = (e) => e, onServer = true): Promise<void> {
  // A marker is Ferry's, not the user's (ls(1) hides dot files too); named itself it is shown.
  const isMarker = (e: Entry) => isE2eMarkerPath(e.path) && e.path !== base;
  const nameOf = (e: Entry) => {
    const n = opts.recursive && e.path !== base ? relativePath(e.path, base) : e.name || e.path;
    return e.type === 'dir' ? `${n}/` : n;
  };
  if (opts.json) {
    // stdout holds valid JSON or nothing: the first entry (or the error of a missing
    // path) is known before `[` is written, and an error later still closes the array.
    const entries = all[Symbol.asyncIterator]();
    let next = await entries.next();
    if (next.done) {
      await out('[]\n');
      return;
    }
    await out('[');
    try {
      for (let first = true; !next.done; first = false, next = await entries.next()) {
        const json = toJson(next.value);
        await out((first ? '\n' : ',\n') + JSON.stringify(isMarker(next.value) ? { ...(json as object), marker: true } : json));
      }
    } finally {
      await out('\n]\n');
    }
    return;
  }
  for await (const e of all) {
    if (isMarker(e) && !opts.all) continue;
    if (opts.long) {
      // No time where the store keeps none (an S3 prefix; an S3 listing, which carries no metadata: stat has it).
      const time = e.mtime ? formatTime(e.mtime) : '-'.padEnd(19);
      const mode = e.mode === undefined && !onServer ? `${e.type === 'dir' ? 'd' : '-'}?????????` : formatMode(e.mode, e.type === 'dir');
      await out(`${mode} ${String(e.size).padStart(14)} ${time} ${nameOf(e)}\n`);
    } else {
      await out(nameOf(e) + '\n');
    }
  }
}
