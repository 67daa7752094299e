import { formatSize } from '../../core/units.js';
import type { Command } from 'commander';
import { normalizePath } from '../../core/path.js';
import { formatMode, formatTime } from '../format.js';
import { addConnectionOptions, withClient, printJson, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerStat(program: Command): void {
  const cmd = program
    .command('stat')
    .description('show one remote file or directory: type, size, times, mode, hash')
    .argument('<path>', 'remote path')
    .option('--json', 'print the entry as JSON {path, name, type, size, mtime, mode, hash, chunks, expiresAt}');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ ferry stat /isos/big.iso
  $ ferry stat --json /isos/big.iso | jq -r .hash`,
  );
  cmd.action(async (pathArg: string, opts: ConnectionOpts & { json?: boolean }) => {
    await withClient(opts, async (client) => {
      const e = await withInterrupt((signal) => client.stat(normalizePath(pathArg), { signal }));
      if (opts.json) return printJson(e);
      const lines: Array<[string, string]> = [
        ['path', e.path],
        ['type', e.type],
        ['size', `${e.size} (${formatSize(e.size)})`],
        ['mtime', `${formatTime(e.mtime)} (${e.mtime})`],
        ['mode', e.mode === undefined ? '-' : `${formatMode(e.mode, e.type === 'dir')} (${e.mode.toString(8).padStart(4, '0')})`],
      ];
      if (e.hash) lines.push(['hash', `${e.hash} (sha256-tree-v1)`]);
      if (e.chunks !== undefined) lines.push(['chunks', String(e.chunks)]);
      if (e.expiresAt !== undefined) lines.push(['expires', `${formatTime(e.expiresAt)} (${e.expiresAt}; deleted then, --ttl)`]);
      process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(9)}${v}`).join('\n') + '\n');
    });
  });
}
