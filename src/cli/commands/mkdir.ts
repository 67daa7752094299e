import type { Command } from 'commander';
import { normalizePath } from '../../core/path.js';
import { addConnectionOptions, withClient, withInterrupt, type ConnectionOpts } from '../options.js';

export function registerMkdir(program: Command): void {
  const cmd = program
    .command('mkdir')
    .description('create remote directories')
    .argument('<paths...>', 'remote paths')
    .option('-p, --parents', 'create parents as needed; no error if the directory exists');
  addConnectionOptions(cmd);
  cmd.addHelpText(
    'after',
    `
Examples:
  $ ferry mkdir /photos
  $ ferry mkdir -p /backup/2026/11`,
  );
  cmd.action(async (paths: string[], opts: ConnectionOpts & { parents?: boolean }) => {
    const targets = paths.map((p) => normalizePath(p));
    await withClient(opts, async (client) => {
      await withInterrupt(async (signal) => {
        for (const p of targets) await client.mkdir(p, { parents: opts.parents, signal });
      });
    });
  });
}
