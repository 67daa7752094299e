import { formatSize } from '../../core/units.js';
import type { Command } from 'commander';
import type { Entry } from '../../core/protocol.js';
import { formatMode, formatTime, placeEntryJson } from '../format.js';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, withServer, printJson, withInterrupt, type ConnectionOpts } from '../options.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import { baseName } from '../../core/path.js';

export function registerStat(program: Command): void {
  const cmd = program
    .command('stat')
    .description('show one file or directory on the server or any remote: type, size, times, mode, hash')
    .argument('<location>', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('--json', 'print the entry as JSON {path, name, type, size, mtime, mode, hash, chunks, expiresAt}; path is the location as given (a server path on a server); mtime is null where the store keeps no time (a folder outside a Ferry server)');
  addConnectionOptions(cmd);
  addE2eOptions(cmd);
  cmd.addHelpText(
    'after',
    `
In an end-to-end folder (vault) a path named in plain is looked up with the key (asked for
unless given), so that the server never sees its plain names; the entry is the stored one
(its size and hash those of the ciphertext) under the plain path.

On a Ferry server the hash is the file's sha256-tree-v1; elsewhere what the store keeps
(an S3 object's mtime and size, a local file's mtime and size).

Examples:
  $ ferry stat /isos/big.iso
  $ ferry stat --json /isos/big.iso | jq -r .hash
  $ ferry stat s3:bucket/reports/2026.pdf`,
  );
  cmd.action(async (arg: string, opts: ConnectionOpts & E2eOpts & { json?: boolean }) => {
    const [loc] = await resolveLocations([arg], 'server');
    let e: Entry;
    if (loc.kind === 'server') {
      e = await withServer(loc, opts, (client) =>
        withInterrupt(async (signal) => {
          const { pathToSend } = await import('../e2e-run.js');
          const sent = await pathToSend(client, loc.path, opts, signal);
          const stored = await client.stat(sent, { signal });
          // A stored path in a vault is shown under the plain path it was asked by.
          return sent === loc.path ? stored : { ...stored, path: loc.path, name: baseName(loc.path) };
        }),
      );
    } else {
      const { entryAtLocation, statPlace, withPlaces } = await import('../remote-fs.js');
      e = await withPlaces([loc.spec], ([place]) => withInterrupt(async (signal) => entryAtLocation(place, await statPlace(place, { signal }))));
    }
    if (opts.json) return printJson(loc.kind === 'server' ? e : placeEntryJson(e));
    const lines: Array<[string, string]> = [
      ['path', e.path],
      ['type', e.type],
      ['size', `${e.size} (${formatSize(e.size)})`],
      ['mtime', e.mtime ? `${formatTime(e.mtime)} (${e.mtime})` : '-'],
      ['mode', e.mode === undefined ? '-' : `${formatMode(e.mode, e.type === 'dir')} (${e.mode.toString(8).padStart(4, '0')})`],
    ];
    if (e.hash) lines.push(['hash', loc.kind === 'server' ? `${e.hash} (sha256-tree-v1)` : `${e.hash} (sha256)`]);
    if (e.chunks !== undefined) lines.push(['chunks', String(e.chunks)]);
    if (e.expiresAt !== undefined) lines.push(['expires', `${formatTime(e.expiresAt)} (${e.expiresAt}; deleted then, --ttl)`]);
    process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(9)}${v}`).join('\n') + '\n');
  });
}
