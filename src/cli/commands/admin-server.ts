/** `ferry admin stats`, `ferry admin gc` and `ferry admin uploads`: what the API's admin routes give, from the CLI. */
import { InvalidArgumentError, type Command } from 'commander';
import { countOf, formatSize, parseDuration } from '../../core/units.js';
import { API_PREFIX } from '../../core/protocol.js';
import { addLoginOptions, printJson, withClient, type ConnectionOpts } from '../options.js';
import { table, when } from '../table.js';

interface GcResult {
  uploads: number;
  chunks: number;
  packs: number;
  leftovers?: { count?: number; bytes?: number };
  /** Chunk and pack objects no index row pointed at (older servers: absent). */
  unreferenced?: { chunks: number; packs: number; bytes: number };
}

/**
 * What dedup saved, for `admin stats`: the chunks' bytes against the files' bytes. Chunks also
 * hold what no file refers to yet or any more (open upload sessions, garbage not yet
 * collected), so they can outweigh the files: then that is said instead of a negative saving.
 */
export function dedupNote(logicalBytes: number, storedBytes: number): string {
  if (logicalBytes <= 0) return '';
  if (storedBytes > logicalBytes) return ' (more than the files hold: chunks of open uploads and garbage not yet collected count too)';
  return ` (${Math.round((1 - storedBytes / logicalBytes) * 100)}% saved by dedup)`;
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
  addLoginOptions(stats).action(async (opts: ConnectionOpts & { json?: boolean }) => {
    await withClient(opts, async (client) => {
      const { stats: read } = await import('../../client/account-api.js');
      const s = await read(client);
      if (opts.json) return printJson(s);
      const saved = dedupNote(s.logicalBytes, s.storedBytes);
      // What the disk (or bucket) holds, when compression makes it less than the chunks' bytes.
      const encoded = s.encodedBytes !== undefined && s.encodedBytes < s.storedBytes ? `, ${formatSize(s.encodedBytes)} in the chunk store after compression` : '';
      process.stdout.write(
        `${countOf(s.files, 'file')}, ${formatSize(s.logicalBytes)} logical\n${countOf(s.chunks, 'chunk')}, ${formatSize(s.storedBytes)} stored${saved}${encoded}\n${countOf(s.uploads, 'upload session')} open\n`,
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
  addLoginOptions(gc).action(async (opts: ConnectionOpts & { json?: boolean; grace?: number }) => {
    await withClient(opts, async (client) => {
      const r = await client.http.json<GcResult>({ method: 'POST', path: `${API_PREFIX}/admin/gc`, json: opts.grace === undefined ? {} : { graceSeconds: opts.grace }, retry: 'never' });
      if (opts.json) return printJson(r);
      const u = r.unreferenced;
      const stray = u && u.chunks + u.packs > 0 ? `, ${countOf(u.chunks + u.packs, 'object')} nothing pointed at (${formatSize(u.bytes)})` : '';
      process.stdout.write(`removed ${countOf(r.uploads, 'upload session')}, ${countOf(r.chunks, 'chunk')}, ${countOf(r.packs, 'pack')}${stray}\n`);
    });
  });
  registerAdminUploads(admin);
}

/** `ferry admin uploads [--user NAME] [--json]` and `ferry admin uploads abort ID...`. */
function registerAdminUploads(admin: Command): void {
  // A group whose default subcommand is ls: the group itself takes no options, so that
  // `abort ID --json --server URL` gives them to abort, not to the group.
  const uploads = admin
    .command('uploads')
    .description("open upload sessions (everyone's, or --user's): ls (the default), abort ID")
    .addHelpText('after', '\nExamples:\n  $ ferry admin uploads\n  $ ferry admin uploads --user ana --json\n  $ ferry admin uploads abort Rk3Qm9vX2bT8cL5wN1yZ0A');
  const ls = uploads
    .command('ls', { isDefault: true })
    .description('id, user, kind, first path, files, bytes (declared; a partial upload\'s: received so far), start and expiry of each open session, newest first')
    .option('--user <name>', "only this user's sessions")
    .option('--json', 'JSON output')
    .addHelpText('after', '\nExamples:\n  $ ferry admin uploads ls\n  $ ferry admin uploads --user ana --json');
  addLoginOptions(ls).action(async (opts: ConnectionOpts & { json?: boolean; user?: string }) => {
    await withClient(opts, async (client) => {
      const { listUploads } = await import('../../client/account-api.js');
      const list = await listUploads(client, { user: opts.user });
      if (opts.json) return printJson(list);
      if (list.length === 0) return void process.stderr.write(`no open upload sessions${opts.user ? ` of ${opts.user}` : ''}\n`);
      process.stdout.write(
        table(
          ['ID', 'USER', 'KIND', 'PATH', 'FILES', 'SIZE', 'STARTED', 'EXPIRES'],
          list.map((u) => [u.id, u.user ?? '-', u.kind, u.path ?? '-', String(u.files), formatSize(u.bytes), when(u.createdAt), when(u.expiresAt)]),
        ),
      );
    });
  });

  const abort = uploads
    .command('abort')
    .description("abort upload sessions (anyone's): what they received is dropped, nothing becomes visible")
    .argument('<id...>', 'session ids, as ferry admin uploads lists them')
    .option('--json', 'print the ids aborted as JSON')
    .addHelpText('after', '\nExamples:\n  $ ferry admin uploads abort Rk3Qm9vX2bT8cL5wN1yZ0A\n  $ ferry admin uploads --user ana --json | jq -r .[].id | xargs ferry admin uploads abort');
  addLoginOptions(abort).action(async (ids: string[], opts: ConnectionOpts & { json?: boolean }) => {
    await withClient(opts, async (client) => {
      const { abortUploadAsAdmin } = await import('../../client/account-api.js');
      for (const id of ids) {
        await abortUploadAsAdmin(client, id);
        if (!opts.json) process.stderr.write(`aborted upload ${id}\n`);
      }
      if (opts.json) printJson({ aborted: ids });
    });
  });
}
