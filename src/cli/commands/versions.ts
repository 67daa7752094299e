/** `ferry versions PATH`, `ferry restore PATH --version N|--at TIME`, `ferry trash ls|restore|empty`. */
import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from '../../core/errors.js';
import { normalizePath } from '../../core/path.js';
import { formatSize, parseDuration } from '../../core/units.js';
import { addConnectionOptions, withClient, printJson, type ConnectionOpts } from '../options.js';
import { table, when } from '../table.js';

interface Opts extends ConnectionOpts {
  json?: boolean;
  version?: number;
  at?: number;
  to?: string;
  olderThan?: number;
}

const positive = (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('a version id (from `ferry versions`)');
  return n;
};

/** An ISO date/time, or a duration ago (`2h`). */
export function parseWhen(text: string, now = Date.now()): number {
  if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    const t = Date.parse(text);
    if (Number.isNaN(t)) throw new InvalidArgumentError(`not a date: ${text}`);
    return t;
  }
  try {
    return now - parseDuration(text);
  } catch {
    throw new InvalidArgumentError(`a date (2026-12-01T09:00) or a duration ago (2h, 3d), not ${JSON.stringify(text)}`);
  }
}

export function registerVersions(program: Command): void {
  const versions = program
    .command('versions')
    .argument('<path>', 'a remote file')
    .description('list the old versions the server keeps of a file (newest first)')
    .option('--json', 'JSON output')
    .addHelpText('after', '\nThe server keeps versions when its `versions` setting says so (README, "Versions and trash").\n\nExample:\n  $ ferry versions /docs/report.odt');
  addConnectionOptions(versions).action(async (path: string, opts: Opts) => {
    await withClient(opts, async (client) => {
      const { listVersions } = await import('../../client/versions.js');
      const list = await listVersions(client, normalizePath(path));
      if (opts.json) return printJson(list);
      process.stdout.write(table(['VERSION', 'SIZE', 'MODIFIED', 'CURRENT FROM', 'REPLACED', 'HASH'], list.map((v) => [String(v.id), formatSize(v.size), when(v.mtime), when(v.createdAt), when(v.replacedAt), v.hash.slice(0, 12)])));
    });
  });

  const restore = program
    .command('restore')
    .argument('<path>', 'a remote file')
    .description('make an old version current again (the current content becomes a version in turn)')
    .option('--version <id>', 'the version id, from `ferry versions`', positive)
    .option('--at <when>', 'the version that was current then: a date (2026-12-01T09:00) or a duration ago (2h)', (v: string) => parseWhen(v))
    .addHelpText('after', '\nExamples:\n  $ ferry restore /docs/report.odt --version 42\n  $ ferry restore /docs/report.odt --at 2026-12-01T09:00\n  $ ferry restore /docs/report.odt --at 3h');
  addConnectionOptions(restore).action(async (path: string, opts: Opts) => {
    if ((opts.version === undefined) === (opts.at === undefined)) throw new UsageError('give one of --version or --at');
    await withClient(opts, async (client) => {
      const { restoreVersion } = await import('../../client/versions.js');
      const entry = await restoreVersion(client, normalizePath(path), opts.version !== undefined ? { version: opts.version } : { at: opts.at! });
      process.stderr.write(`restored ${entry.path} (${formatSize(entry.size)})\n`);
    });
  });

  const trash = program.command('trash').description('files deleted on the server, kept for its trashDays: ls, restore, empty');
  const ls = trash.command('ls').argument('[path]', 'only what was deleted at or below this path', '/').description('list the trash, newest first').option('--json', 'JSON output').addHelpText('after', '\nExample:\n  $ ferry trash ls /projects');
  addConnectionOptions(ls).action(async (path: string, opts: Opts) => {
    await withClient(opts, async (client) => {
      const { listTrash } = await import('../../client/versions.js');
      const list = await listTrash(client, normalizePath(path));
      if (opts.json) return printJson(list);
      process.stdout.write(table(['ID', 'PATH', 'SIZE', 'DELETED'], list.map((t) => [String(t.id), t.path, formatSize(t.size), when(t.deletedAt)])));
    });
  });
  const tr = trash
    .command('restore')
    .argument('<id>', 'an id from `ferry trash ls`', positive)
    .option('--to <path>', 'put it there instead of where it was')
    .description('put a deleted file back (refused if a file is there now: use --to)')
    .addHelpText('after', '\nExamples:\n  $ ferry trash restore 17\n  $ ferry trash restore 17 --to /recovered/report.odt');
  addConnectionOptions(tr).action(async (id: number, opts: Opts) => {
    await withClient(opts, async (client) => {
      const { restoreTrash } = await import('../../client/versions.js');
      const entry = await restoreTrash(client, id, opts.to === undefined ? undefined : normalizePath(opts.to));
      process.stderr.write(`restored ${entry.path}\n`);
    });
  });
  const empty = trash
    .command('empty')
    .argument('[path]', 'only what was deleted at or below this path', '/')
    .option('--older-than <duration>', 'only what was deleted longer ago than this (30d)', (v: string) => parseDuration(v))
    .description('delete trashed files for good')
    .addHelpText('after', '\nExamples:\n  $ ferry trash empty\n  $ ferry trash empty /tmp --older-than 7d');
  addConnectionOptions(empty).action(async (path: string, opts: Opts) => {
    await withClient(opts, async (client) => {
      const { emptyTrash } = await import('../../client/versions.js');
      const n = await emptyTrash(client, normalizePath(path), opts.olderThan === undefined ? undefined : Date.now() - opts.olderThan);
      process.stderr.write(`removed ${n} file(s) from the trash\n`);
    });
  });
}
