import { formatSize } from '../../core/units.js';
import type { Command } from 'commander';
import type { Entry } from '../../core/protocol.js';
import { formatMode, formatTime, placeEntryJson } from '../format.js';
import { resolveLocations, type Location } from '../location.js';
import { isFerryError, type FerryError } from '../../core/errors.js';
import { ExitError, debugWanted, errorJson, exitCodeOfAll, reportError } from '../exit.js';
import { addConnectionOptions, withServer, printJson, withInterrupt, type ConnectionOpts } from '../options.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { baseName } from '../../core/path.js';
import { terminalSafe } from '../terminal-text.js';
import { etagOfHash } from '../../core/write-conditions.js';

export function registerStat(program: Command): void {
  const cmd = program
    .command('stat')
    .description('show files or directories on the server or any remote: type, size, times, mode, hash')
    .argument('<locations...>', 'server paths (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('--json', 'print the entry as JSON {path, name, type, size, mtime, mode, hash, etag, chunks, expiresAt}; path is the location as given (a server path on a server); mtime is null where the store keeps no time (a folder outside a Ferry server); etag (a file on a Ferry server) is what put --if-match takes');
  addConnectionOptions(cmd);
  addE2eOptions(cmd);
  cmd.addHelpText(
    'after',
    `
In an end-to-end folder (vault) a path named in plain is looked up with the key (asked for
unless given), so that the server never sees its plain names; the entry is the stored one
(its size and hash those of the ciphertext) under the plain path.

On a Ferry server the hash is the file's sha256-tree-v1; elsewhere what the store keeps
(an S3 object's mtime and size, a local file's mtime and size). A file on a Ferry server
also shows its ETag, the hash in quotes: put --if-match replaces the file only if it
still has it.

With several locations, one that fails is reported (on stderr) and the others are still
shown, a blank line between entries; the exit status is then that of the failures. With
--json each location gives one line on stdout: its entry, or {location, error} for one
that failed (a single location that fails prints its error on stderr only, as before).

Examples:
  $ ferry stat /isos/big.iso
  $ ferry stat /a.txt /b.txt nas:/c.txt
  $ ferry stat --json /isos/big.iso | jq -r .hash
  $ ferry stat s3:bucket/reports/2026.pdf`,
  );
  cmd.action(async (args: string[], opts: StatOpts) => {
    const locations = await resolveLocations(args, 'server');
    const several = locations.length > 1;
    const failed: FerryError[] = [];
    // As stat(1): a location that cannot be looked at is reported and the others are still
    // shown; the exit status says that something failed. Ctrl-C and bugs stop at once.
    for (const [i, loc] of locations.entries()) {
      let e: Entry;
      try {
        e = await statOne(loc, opts);
      } catch (err) {
        if (!isFerryError(err) || err.code === 'FERRY_ERR_ABORTED' || !several) throw err;
        failed.push(err);
        if (opts.json) printJson({ location: loc.label, error: errorJson(err) });
        reportError(err, { json: opts.json, debug: debugWanted() });
        continue;
      }
      if (opts.json) printJson(loc.kind === 'server' ? withEtag(e) : placeEntryJson(e));
      else process.stdout.write((i > 0 ? '\n' : '') + entryLines(e, loc.kind === 'server'));
    }
    if (failed.length > 0) throw new ExitError(exitCodeOfAll(failed));
  });
}

type StatOpts = ConnectionOpts & E2eOpts & { json?: boolean };

async function statOne(loc: Location, opts: StatOpts): Promise<Entry> {
  if (loc.kind === 'server') {
    return withServer(loc, opts, (client) =>
      withInterrupt(async (signal) => {
        const { pathToSend } = await import('../e2e-run.js');
        const sent = await pathToSend(client, loc.path, opts, signal);
        const stored = await client.stat(sent, { signal });
        // A stored path in a vault is shown under the plain path it was asked by.
        return sent === loc.path ? stored : { ...stored, path: loc.path, name: baseName(loc.path) };
      }),
    );
  }
  const { entryAtLocation, statPlace, withPlaces } = await import('../remote-fs.js');
  return withPlaces([loc.spec], ([place]) => withInterrupt(async (signal) => entryAtLocation(place, await statPlace(place, { signal }))));
}

/** A server file's entry with its ETag (the download's, what `put --if-match` and the API's If-Match take). */
function withEtag(e: Entry): Entry & { etag?: string } {
  return e.type === 'file' && e.hash ? { ...e, etag: etagOfHash(e.hash) } : e;
}

function entryLines(e: Entry, onServer: boolean): string {
  const lines: Array<[string, string]> = [
    ['path', e.path],
    ['type', e.type],
    ['size', `${e.size} (${formatSize(e.size)})`],
    ['mtime', e.mtime ? `${formatTime(e.mtime)} (${e.mtime})` : '-'],
    ['mode', e.mode === undefined ? '-' : `${formatMode(e.mode, e.type === 'dir')} (${e.mode.toString(8).padStart(4, '0')})`],
  ];
  if (e.hash) lines.push(['hash', onServer ? `${e.hash} (sha256-tree-v1)` : `${e.hash} (sha256)`]);
  if (e.hash && onServer && e.type === 'file') lines.push(['etag', `${etagOfHash(e.hash)} (put --if-match)`]);
  if (e.chunks !== undefined) lines.push(['chunks', String(e.chunks)]);
  if (e.expiresAt !== undefined) lines.push(['expires', `${formatTime(e.expiresAt)} (${e.expiresAt}; deleted then, --ttl)`]);
  return lines.map(([k, v]) => `${(k + ':').padEnd(9)}${terminalSafe(v)}`).join('\n') + '\n';
}