/** `ferry versions PATH`, `ferry restore PATH --version N|--at TIME`, `ferry trash ls|restore|empty`. */
import { InvalidArgumentError, type Command } from 'commander';
import { UsageError, ValidationError } from '../../core/errors.js';
import { isE2eName } from '../../core/e2e-layout.js';
import { normalizePath } from '../../core/path.js';
import { countOf, formatSize, parseDuration } from '../../core/units.js';
import { addConnectionOptions, addLoginOptions, durationArg, withClient, withServer, printJson, type ConnectionOpts } from '../options.js';
import { resolveServerLocation } from '../location.js';
import { table, when } from '../table.js';
import { addE2eOptions, type E2eOpts } from '../e2e-flags.js';
import type { VersionPolicy } from '../../client/versions.js';
import type { FerryClient } from '../../client/client.js';
import { terminalSafe } from '../terminal-text.js';

const E2E_NOTE = `
In an end-to-end folder (vault) give the file's plain path and the key (--passphrase-file,
FERRY_E2E_PASSPHRASE or --e2e-key-file): its stored path is computed here, never sent in
plain; a stored path (as \`ferry trash ls\` shows it) is taken as it is.`;

interface Opts extends ConnectionOpts, E2eOpts {
  json?: boolean;
  quiet?: boolean;
  version?: number;
  at?: number;
  to?: string;
  olderThan?: number;
}

/** Why a file has no old versions: the server says whether versioning is on for the path (older servers do not: then what it may be). */
function noVersionsLine(label: string, policy: VersionPolicy | undefined): string {
  if (policy === undefined) return `no old versions of ${label}: the server keeps them only when its versions setting (keep or days) is on for the path, from the next overwrite on`;
  if (!policy.enabled) return `versioning is off for ${label}: the server keeps no old versions of it (its versions setting, keep or days, is 0 for this path: an admin sets it in the server's config file, README "Versions and trash")`;
  const limits = [policy.keep > 0 ? `the last ${policy.keep}` : '', policy.days > 0 ? `for ${policy.days} days` : ''].filter(Boolean).join(', ');
  return `no versions of ${label} yet: the server keeps them (${limits}) from the next overwrite on`;
}

/** A version id option (`--version ID`). */
export const positive = (v: string): number => {
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
    .argument('<path>', 'a file on the server: /path, ferry:/path, or NAME:path of a Ferry remote')
    .description('list the old versions the server keeps of a file (newest first)')
    .option('--json', 'JSON output')
    .addHelpText('after', '\nThe server keeps versions when its `versions` setting says so (README, "Versions and trash").\n' + E2E_NOTE + '\n\nExamples:\n  $ ferry versions /docs/report.odt\n  $ ferry versions work:/docs/report.odt --json\n  $ ferry versions /vault/diary.txt --passphrase-file ~/.ferry-pass');
  addE2eOptions(addConnectionOptions(versions)).action(async (path: string, opts: Opts) => {
    const loc = await resolveServerLocation(path, 'versions');
    await withServer(loc, opts, async (client) => {
      const { versionList } = await import('../../client/versions.js');
      const { storedPathInVault } = await import('../e2e-run.js');
      const { versions: list, policy } = await versionList(client, (await storedPathInVault(client, loc.path, opts))?.stored ?? loc.path);
      if (opts.json) return printJson(list);
      // A bare table header reads as a failure: say why the list is empty (the policy is the server's).
      if (list.length === 0) return void process.stderr.write(noVersionsLine(loc.label, policy) + '\n');
      process.stdout.write(table(['VERSION', 'SIZE', 'MODIFIED', 'CURRENT FROM', 'REPLACED', 'HASH'], list.map((v) => [String(v.id), formatSize(v.size), when(v.mtime), when(v.createdAt), when(v.replacedAt), v.hash.slice(0, 12)])));
    });
  });

  const restore = program
    .command('restore')
    .argument('<path>', 'a file on the server: /path, ferry:/path, or NAME:path of a Ferry remote')
    .description('make an old version current again (the current content becomes a version in turn)')
    .option('--version <id>', 'the version id, from `ferry versions`', positive)
    .option('--at <when>', 'the version that was current then: a date (2026-12-01T09:00) or a duration ago (2h)', (v: string) => parseWhen(v))
    .option('--json', 'print the restored file\'s entry as JSON')
    .option('-q, --quiet', 'print nothing but errors')
    .addHelpText('after', '\n' + E2E_NOTE.trim() + '\n\nExamples:\n  $ ferry restore /docs/report.odt --version 42\n  $ ferry restore /docs/report.odt --at 2026-12-01T09:00\n  $ ferry restore /docs/report.odt --at 3h\n  $ ferry restore /vault/diary.txt --version 7 --e2e-key-file ~/.ferry.key');
  addE2eOptions(addConnectionOptions(restore)).action(async (path: string, opts: Opts) => {
    if ((opts.version === undefined) === (opts.at === undefined)) throw new UsageError('give one of --version or --at');
    const loc = await resolveServerLocation(path, 'versions');
    await withServer(loc, opts, async (client) => {
      const { restoreVersion } = await import('../../client/versions.js');
      const { storedPathInVault } = await import('../e2e-run.js');
      const inVault = await storedPathInVault(client, loc.path, opts);
      const entry = await restoreVersion(client, inVault?.stored ?? loc.path, opts.version !== undefined ? { version: opts.version } : { at: opts.at! });
      if (opts.json) return printJson(inVault?.computed ? { ...entry, path: loc.path } : entry);
      if (!opts.quiet) process.stderr.write(`restored ${terminalSafe(inVault?.computed ? loc.path : entry.path)} (${formatSize(entry.size)})\n`);
    });
  });

  registerTrash(program);
}

/** `ferry trash ls|restore|empty`. */
function registerTrash(program: Command): void {
  const trash = program.command('trash').description('files deleted on the server, kept for its trashDays: ls, restore, empty');
  const ls = trash
    .command('ls')
    .argument('[path]', 'only what was deleted at or below this path (as stored)', '/')
    .description('list the trash, newest first')
    .option('--json', 'JSON output')
    .addHelpText(
      'after',
      `
Paths are as stored. With an end-to-end secret (--passphrase-file, FERRY_E2E_PASSPHRASE or
--e2e-key-file; never asked for) the encrypted names are shown decrypted (--json: plainPath).

Examples:
  $ ferry trash ls /projects
  $ ferry trash ls /vault --passphrase-file ~/.ferry-pass`,
    );
  addE2eOptions(addConnectionOptions(ls)).action(async (path: string, opts: Opts) => {
    const loc = await resolveServerLocation(path, 'deleted files');
    await withServer(loc, opts, async (client) => {
      const { listTrash } = await import('../../client/versions.js');
      const list = await listTrash(client, loc.path);
      const plain = await (await import('../e2e-run.js')).plainPathsOf(client, list.map((t) => t.path), opts);
      if (opts.json) return printJson(plain ? list.map((t) => (plain.has(t.path) ? { ...t, plainPath: plain.get(t.path) } : t)) : list);
      if (list.length === 0) return void process.stderr.write(await emptyTrashNote(client, loc.label));
      process.stdout.write(table(['ID', 'PATH', 'SIZE', 'DELETED'], list.map((t) => [String(t.id), plain?.get(t.path) ?? t.path, formatSize(t.size), when(t.deletedAt)])));
    });
  });
  const tr = trash
    .command('restore')
    .argument('<id>', 'an id from `ferry trash ls`', positive)
    .option('--to <path>', 'put it there instead of where it was (a file path)')
    .option('--json', 'print the restored file\'s entry as JSON')
    .option('-q, --quiet', 'print nothing but errors')
    .description('put a deleted file back (refused if a file is there now: use --to)')
    .addHelpText(
      'after',
      `
A file deleted from an end-to-end folder (vault) goes back where it was, under the stored
names it had (a folder renamed since comes back under its old name). If the vault itself
was moved, renamed or deleted since, the server refuses (FERRY_ERR_E2E_NEEDS_KEY): give
--to with its plain path in a vault and the key (--passphrase-file, FERRY_E2E_PASSPHRASE or
--e2e-key-file); its names are then encrypted here for that place.

Examples:
  $ ferry trash restore 17
  $ ferry trash restore 17 --to /recovered/report.odt
  $ ferry trash restore 18 --to /vault/letters/2026/june.txt --e2e-key-file ~/.ferry.key`,
    );
  addE2eOptions(addLoginOptions(tr)).action(async (id: number, opts: Opts) => {
    await withClient(opts, async (client) => {
      const { restoreTrash, listTrashPage } = await import('../../client/versions.js');
      const to = opts.to === undefined ? undefined : normalizePath(opts.to);
      const { storedPathInVault } = await import('../e2e-run.js');
      const inVault = to === undefined ? undefined : await storedPathInVault(client, to, opts);
      if (inVault?.computed) {
        // A file of another key would be restored whole but never open there. The page of one
        // entry that starts at this id is the entry (a server before paging answers its first page).
        const t = (await listTrashPage(client, '/', { cursor: String(id + 1), limit: 1 })).entries.find((x) => x.id === id);
        const name = t?.path.slice(t.path.lastIndexOf('/') + 1);
        if (name !== undefined && isE2eName(name) && !(await inVault.opens(name))) {
          throw new ValidationError(`trash entry ${id} (${t!.path}) is not encrypted with the key of the end-to-end folder ${inVault.vault}: restore it into its own vault`);
        }
      }
      const entry = await restoreTrash(client, id, inVault?.stored ?? to, { reencrypt: inVault?.computed });
      if (opts.json) return printJson(inVault?.computed ? { ...entry, path: to! } : entry);
      if (!opts.quiet) process.stderr.write(`restored ${terminalSafe(inVault?.computed ? to! : entry.path)}\n`);
    });
  });
  const empty = trash
    .command('empty')
    .argument('[path]', 'only what was deleted at or below this path', '/')
    .option('--older-than <duration>', 'only what was deleted longer ago than this (30d)', durationArg)
    .option('--all-users', 'as the admin: empty other users\' trash too, where PATH holds their homes (the default / holds them all)')
    .option('-y, --yes', 'with --all-users: do not ask (needed when stdin is not a terminal)')
    .option('--json', 'print {removed} (how many files) as JSON')
    .option('-q, --quiet', 'print nothing but errors')
    .description('delete trashed files for good')
    .addHelpText(
      'after',
      `
As the admin, whose root holds every user's home, a PATH that holds other users' homes
(/ by default) is refused unless --all-users says so; it then asks before it deletes, or
takes --yes.

Examples:
  $ ferry trash empty
  $ ferry trash empty /tmp --older-than 7d
  $ ferry trash empty --all-users --older-than 90d      (admin: everyone's, asks first)`,
    );
  addConnectionOptions(empty).action(async (path: string, opts: Opts & { allUsers?: boolean; yes?: boolean }) => {
    const loc = await resolveServerLocation(path, 'deleted files');
    await withServer(loc, opts, async (client) => {
      const { emptyTrash } = await import('../../client/versions.js');
      const allUsers = await othersTrashMeant(client, loc, opts);
      const n = await emptyTrash(client, loc.path, opts.olderThan === undefined ? undefined : Date.now() - opts.olderThan, { allUsers });
      if (opts.json) return printJson({ removed: n });
      if (!opts.quiet) process.stderr.write(`removed ${countOf(n, 'file')} from the trash\n`);
    });
  });
}

/**
 * The admin's root holds every home: `trash empty /` would delete what every user deleted,
 * for good. Where PATH holds (or is inside) another user's home that takes --all-users, and
 * then a yes on a terminal or --yes, as nothing else of theirs goes without one. True: other
 * users' trash is meant (the server takes that as `allUsers=true`, and refuses without it).
 */
async function othersTrashMeant(client: FerryClient, loc: { path: string; label: string }, opts: { allUsers?: boolean; yes?: boolean }): Promise<boolean> {
  const { othersWithTrashAt } = await import('../../client/versions.js');
  const others = await othersWithTrashAt(client, loc.path);
  if (others.length === 0) return false;
  const names = others.slice(0, 3).join(', ') + (others.length > 3 ? ', …' : '');
  const whose = `${countOf(others.length, 'other user')} (${names})`;
  if (!opts.allUsers) {
    throw new UsageError(`${loc.label} holds the home of ${whose}: emptying it deletes their trash too; add --all-users to mean that, or name a folder of your own`);
  }
  if (opts.yes) return true;
  if (!process.stdin.isTTY) throw new UsageError(`emptying the trash of ${whose} asks first: add --yes (stdin is not a terminal)`);
  const { promptLine } = await import('../prompt.js');
  const answer = await promptLine(`Delete for good what ${whose} and you deleted under ${terminalSafe(loc.label)}? [y/N] `);
  if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('nothing deleted: not confirmed');
  return true;
}

/**
 * Why `trash ls` lists nothing: the server's trashDays (`GET /api/v1/me`) tells "deletes are
 * final here" from "nothing deleted"; the note said both, naming trashDays 0 to an admin who
 * had set it to 30. A server too old to say keeps the note that says both.
 */
async function emptyTrashNote(client: FerryClient, label: string): Promise<string> {
  const { me } = await import('../../client/account.js');
  const days = (await me(client)).trashDays;
  const setting = 'an admin sets trashDays: 30 in the server\'s config file, README "Versions and trash"';
  if (days === undefined) return `no deleted files in ${label}: none were deleted, or the server keeps none (its trashDays setting is 0, the default; ${setting})\n`;
  if (days <= 0) return `no deleted files in ${label}: deletes are final on this server (its trashDays setting is 0, the default; ${setting})\n`;
  return `no deleted files in ${label} (the server keeps deleted files for ${countOf(days, 'day')})\n`;
}
