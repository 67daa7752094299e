/** `ferry admin stats` and `ferry admin gc`: what the API's admin routes give, from the CLI. */
import { InvalidArgumentError, type Command } from 'commander';
import { countOf, formatSize, parseDuration } from '../../core/units.js';
import { API_PREFIX } from '../../core/protocol.js';
import { addConnectionOptions, printJson, withClient, type ConnectionOpts } from '../options.js';

interface GcResult {
  uploads: number;
  chunks: number;
  packs: number;
  leftovers?: { removed?: number; bytes?: number };
}

/** Adds stats and gc to the `admin` group that admin.ts registers. */
export function registerAdminServer(program: Command): void {
  const admin = program.commands.find((c) => c.name() === 'admin');
  if (admin === undefined) throw new Error('the admin command is registered first');
  const stats = admin
    .command('stats')
    .description('files, logical and stored bytes (after dedup), chunks, upload sessions of the whole server')
    .option('--json', 'JSON output')
    .addHelpText('after', '\nExamples:\n  $ ferry admin stats\n  $ ferry admin stats --json | jq .storedBytes');
  addConnectionOptions(stats).action(async (opts: ConnectionOpts & { json?: boolean }) => {
    await withClient(opts, async (client) => {
      const { stats: read } = await import('../../client/account-api.js');
      const s = await read(client);
      if (opts.json) return printJson(s);
      const saved = s.logicalBytes > 0 ? ` (${Math.round((1 - s.storedBytes / s.logicalBytes) * 100)}% saved by dedup)` : '';
      process.stdout.write(
        `${countOf(s.files, 'file')}, ${formatSize(s.logicalBytes)} logical\n${countOf(s.chunks, 'chunk')}, ${formatSize(s.storedBytes)} stored${saved}\n${countOf(s.uploads, 'upload session')} open\n`,
      );
    });
  });

  const gc = admin
    .command('gc')
    .description('collect garbage now: expired upload sessions, chunks and packs nothing refers to')
    .option('--grace <duration>', 'keep what became garbage less than this long ago (default: the server\'s)', (v: string) => {
      try {
        return Math.round(parseDuration(v) / 1000);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
    })
    .option('--json', 'JSON output')
    .addHelpText('after', '\nExamples:\n  $ ferry admin gc\n  $ ferry admin gc --grace 0s --json');
  addConnectionOptions(gc).action(async (opts: ConnectionOpts & { json?: boolean; grace?: number }) => {
    await withClient(opts, async (client) => {
      const r = await client.http.json<GcResult>({ method: 'POST', path: `${API_PREFIX}/admin/gc`, json: opts.grace === undefined ? {} : { graceSeconds: opts.grace }, retry: 'never' });
      if (opts.json) return printJson(r);
      process.stdout.write(`removed ${countOf(r.uploads, 'upload session')}, ${countOf(r.chunks, 'chunk')}, ${countOf(r.packs, 'pack')}\n`);
    });
  });
}
