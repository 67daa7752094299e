import { formatSize } from '../../core/units.js';
import type { Command } from 'commander';
import type { Entry } from '../../core/protocol.js';
import { formatMode, formatTime, placeEntryJson } from '../format.js';
import { resolveLocations } from '../location.js';
import { addConnectionOptions, withServer, printJson, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerStat(program: Command): void {
  const cmd = program
    .command('stat')
    .description('show one file or directory on the server or any remote: type, size, times, mode, hash')
    .argument('<location>', 'a server path (/x, ferry:/x), NAME:path, s3:bucket/key, ./file')
    .option('--json', 'print the entry as JSON {path, name, type, size, mtime, mode, hash, chunks, expiresAt}; path is the location as given (a server path on a server); mtime is null where the store keeps no time (a folder outside a Ferry server)');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
On a Ferry server the hash is the file's sha256-tree-v1; elsewhere what the store keeps
(an S3 object's mtime and size, a local file's mtime and size).

Examples:
  $ ferry stat /isos/big.iso
  $ ferry stat --json /isos/big.iso | jq -r .hash
  $ ferry stat s3:bucket/reports/2026.pdf`,
  );
  cmd.action(async (arg: string, opts: ConnectionOpts & { json?: boolean }) => {
    const [loc] = await resolveLocations([arg], 'server');
    let e: Entry;
    if (loc.kind === 'server') {
      e = await withServer(loc, opts, (client) => withInterrupt((signal) => client.stat(loc.path, { signal })));
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
