/** `ferry admin backup|restore|check`: keeping a server's data safe and sound. */
import type { Command } from 'commander';
import { countOf } from '../../core/units.js';
import { EXIT, ExitError } from '../exit.js';
import { addLoginOptions, withClient, printJson, type ConnectionOpts } from '../options.js';
import { trimTrailingSlashes } from '../../core/path.js';
import { terminalSafe } from '../terminal-text.js';

interface MaintenanceOpts extends ConnectionOpts {
  json?: boolean;
  readData?: boolean;
  quarantine?: boolean;
  data?: string;
  force?: boolean;
}

/**
 * What to copy next, since a backup holds no chunks: an rsync line for a chunk store on the
 * server's disk (`PREFIX=/abs/dir`), into `DIR/store` as README says; other stores by name.
 */
export function chunkStoreNote(stores: string[], dir: string): string {
  const lines = stores.map((entry) => {
    const at = entry.indexOf('=');
    const [prefix, where] = at < 0 ? ['/', entry] : [entry.slice(0, at), entry.slice(at + 1)];
    const into = prefix === '/' ? 'store' : `store-${prefix.slice(1).replace(/\//g, '-')}`;
    return where.startsWith('/') ? `  rsync -a ${where}/ ${trimTrailingSlashes(dir)}/${into}/` : `  ${where} (the chunks of ${prefix}: rclone sync it, or the bucket's own replication)`;
  });
  return `chunks are not in it: copy the chunk store now, incrementally, within the server's gcGrace (1 h by default):\n${lines.join('\n')}\n`;
}

/** After a restore, the chunks: from BACKUP/store when the backup's rsync line put them there, else from wherever they were kept. */
async function restoreChunksNote(backup: string, data: string): Promise<string> {
  const { stat } = await import('node:fs/promises');
  const { join, resolve } = await import('node:path');
  const store = join(resolve(backup), 'store');
  const then = 'then start the server and run ferry admin check';
  if ((await stat(store).catch(() => undefined))?.isDirectory()) return `chunks: rsync -a ${store}/ ${join(resolve(data), 'store')}/ (${then})\n`;
  return `chunks are not in a backup: put the chunk store back in ${join(resolve(data), 'store')} if it was lost, ${then}\n`;
}

/** After a restore, what the backup left out (`session-key` when made with a token that expires) and what takes its place. */
async function leftOutNote(leftOut: ReadonlyArray<{ path: string; reason: string }>, data: string): Promise<string> {
  const { stat } = await import('node:fs/promises');
  const { join, resolve } = await import('node:path');
  const lines = [];
  for (const l of leftOut) {
    const kept = (await stat(join(resolve(data), l.path)).catch(() => undefined)) !== undefined;
    const instead = kept ? `; the one already in ${data} is kept` : '';
    lines.push(`not in the backup: ${terminalSafe(l.path)}, ${terminalSafe(l.reason)}${instead}\n`);
  }
  return lines.join('');
}

export function registerMaintenance(admin: Command): void {
  const backup = admin
    .command('backup')
    .argument('<dir>', 'an absolute path on the server machine: a new or empty directory')
    .description('online backup: the metadata database (consistent, while the server runs) and its keys and TLS material')
    .option('--json', 'print the backup manifest as JSON')
    .addHelpText(
      'after',
      `
The server writes meta.db (SQLite's online backup API), session-key (not when the token
expires, as a ferry login one does: it would outlive it), tls/, ssh/ (the SFTP host keys) and a manifest
ferry-backup.json with every file's SHA-256. Chunks are not copied: they are immutable,
so copy the chunk store (DATA/store, or your bucket) afterwards, incrementally, within the
server's gcGrace. PostgreSQL metadata: use pg_dump instead (README, "Backup and check").

Examples:
  $ ferry admin backup /var/backups/ferry/2026-12-03
  $ rsync -a /var/lib/ferry/store/ /var/backups/ferry/store/`,
    );
  addLoginOptions(backup).action(async (dir: string, opts: MaintenanceOpts) => {
    await withClient(opts, async (client) => {
      const admin = await import('../../client/admin.js');
      const manifest = await admin.backup(client, dir);
      if (opts.json) return printJson(manifest);
      const bytes = manifest.files.reduce((n, f) => n + f.size, 0);
      process.stdout.write(`backed up ${countOf(manifest.files.length, 'file')} (${bytes} bytes) into ${dir}\n${chunkStoreNote(manifest.chunkStores, dir)}`);
      for (const l of manifest.leftOut ?? []) process.stderr.write(`left out ${terminalSafe(l.path)}: ${terminalSafe(l.reason)}; a token that does not expire (made in the web app) backs it up too\n`);
    });
  });

  admin
    .command('restore')
    .argument('<backup>', 'a directory written by ferry admin backup')
    .requiredOption('--data <dir>', 'the data directory to restore into (the server must be stopped)')
    .option('--force', 'replace an existing metadata database')
    .description('put a backup back into a data directory (offline), after checking every file against its manifest')
    .addHelpText(
      'after',
      `
Stop the server first. Then put the chunk store back too (if it was lost), start the
server, and run \`ferry admin check\` to confirm every chunk the metadata names is there.

Example:
  $ systemctl stop ferry
  $ ferry admin restore /var/backups/ferry/2026-12-03 --data /var/lib/ferry --force
  $ systemctl start ferry && ferry admin check`,
    )
    .action(async (dir: string, opts: MaintenanceOpts) => {
      const { restoreServer } = await import('../../server/backup.js');
      const manifest = await restoreServer(dir, opts.data!, { force: opts.force === true });
      process.stdout.write(`restored ${countOf(manifest.files.length, 'file')} from the backup of ${manifest.createdAt} into ${opts.data}\n${await restoreChunksNote(dir, opts.data!)}`);
      process.stderr.write(await leftOutNote(manifest.leftOut ?? [], opts.data!));
    });

  const check = admin
    .command('check')
    .description('verify the metadata against the chunk store; --read-data also reads and hashes every chunk')
    .option('--read-data', "read every chunk and verify it against its SHA-256 name (reads the whole store)")
    .option('--no-quarantine', 'only report; do not quarantine damaged chunks')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Each damaged chunk (missing, or with bytes that do not match its name) is reported with
files that need it, and quarantined: a corrupt object is moved aside, and the next upload
of those bytes (any client uploading a file that contains them) repairs it.
Exit status 0 when all is well, 7 when problems were found.

Examples:
  $ ferry admin check
  $ ferry admin check --read-data --json > check.json`,
    );
  addLoginOptions(check).action(async (opts: MaintenanceOpts) => {
    await withClient(opts, async (client) => {
      const admin = await import('../../client/admin.js');
      const report = await admin.check(client, { readData: opts.readData === true, quarantine: opts.quarantine !== false }, (p) => {
        if (process.stderr.isTTY) process.stderr.write(`\rchecked ${p.chunks} chunks, read ${p.chunksRead} (${p.bytesRead} bytes)`);
      });
      if (process.stderr.isTTY) process.stderr.write('\n');
      if (opts.json) printJson(report);
      else {
        process.stdout.write(`${countOf(report.manifests, 'manifest')}, ${countOf(report.chunks, 'chunk')}${opts.readData ? `, ${report.chunksRead} read (${countOf(report.bytesRead, 'byte')})` : ''}: ${report.ok ? 'no problems' : countOf(report.problems.length, 'problem')}\n`);
        const u = report.unreferenced;
        if (u && u.chunks + u.packs > 0) process.stdout.write(`${countOf(u.chunks, 'chunk')} and ${countOf(u.packs, 'pack')} nothing points at (${countOf(u.bytes, 'byte')}): ferry admin gc removes them\n`);
        for (const p of report.problems) {
          process.stdout.write(`${p.kind} ${p.hash}${p.quarantined ? ' (quarantined)' : ''}\n  ${p.message}\n${p.files.map((f) => `  needed by ${f}\n`).join('')}`);
        }
      }
      if (!report.ok) throw new ExitError(EXIT.INTEGRITY);
    });
  });
  registerMigrate(admin);
}

/** `ferry admin migrate`: a single node's SQLite metadata into PostgreSQL, for several nodes. */
function registerMigrate(admin: Command): void {
  admin
    .command('migrate')
    .requiredOption('--from <db>', 'the SQLite metadata to copy: sqlite:DATA/meta.db (or the path of meta.db)')
    .requiredOption('--to <url>', 'an empty PostgreSQL database: postgres://user@host:port/database (password in PGPASSWORD)')
    .description('copy a single-node installation\'s metadata (SQLite) into PostgreSQL, to run several nodes on it (offline)')
    .addHelpText(
      'after',
      `
Stop the server first (systemctl stop ferry: its data directory is locked while it runs). Both databases are
brought to this version's schema, then every table is copied in one PostgreSQL transaction;
the destination must be empty. Chunks are not copied: start the nodes with the same chunk
store (already shared, such as S3), or copy the chunks with ferry copy/ferry sync first.
Then start every node with --db and the same FERRY_SESSION_KEY (the old one is in
DATA/session-key: web sessions made before stay valid).

The password goes in PGPASSWORD (or ~/.pgpass), and every node gets
FERRY_SESSION_KEY=$(cat /var/lib/ferry/session-key) in its environment.

Examples:
  $ ferry admin migrate --from sqlite:/var/lib/ferry/meta.db --to postgres://ferry@db.internal/ferry
  $ ferry serve --db postgres://ferry@db.internal/ferry --data /var/lib/ferry`,
    )
    .action(migrateMetadata);
}

async function migrateMetadata(opts: { from: string; to: string }): Promise<void> {
  const file = opts.from.replace(/^sqlite:/, '');
  const { isPostgresUrl, MetaStore } = await import('../../store/meta-store.js');
  if (isPostgresUrl(file)) throw new ExitError(EXIT.USAGE, '--from: the source is an SQLite file (sqlite:DATA/meta.db)');
  if (!isPostgresUrl(opts.to)) throw new ExitError(EXIT.USAGE, '--to: the destination is a postgres:// URL');
  const { existsSync } = await import('node:fs');
  const { dirname } = await import('node:path');
  if (!existsSync(file)) throw new ExitError(EXIT.USAGE, `--from: ${file} does not exist`);
  // The server must not be writing meanwhile: take its data directory's lock.
  const { lockDataDir } = await import('../../server/data-lock.js');
  const lock = await lockDataDir(dirname(file));
  try {
    const from = await MetaStore.openSqlite(file);
    try {
      const to = await MetaStore.openPostgres(opts.to);
      try {
        const { copyMetadata } = await import('../../store/copy-metadata.js');
        const report = await copyMetadata(from, to, (name, rows) => process.stderr.write(`${name}: ${countOf(rows, 'row')}\n`));
        const rows = report.tables.reduce((n, t) => n + t.rows, 0);
        const { redactDbUrl } = await import('../../server/config.js');
        process.stdout.write(`copied ${countOf(rows, 'row')} in ${countOf(report.tables.length, 'table')} into ${redactDbUrl(opts.to)}\n`);
      } finally {
        await to.close();
      }
    } finally {
      await from.close();
    }
  } finally {
    await lock.release();
  }
}
