/**
 * `ferry admin backup DIR` and `ferry admin restore`: what a server needs besides its
 * chunks. Backup runs inside the server, online: the metadata database through SQLite's
 * backup API (a consistent copy while uploads go on), then the secrets that live beside it
 * in the data directory (`session-key`, `tls/`, the SFTP host keys in `ssh/`), with a manifest `ferry-backup.json` of
 * every file's size and SHA-256. Chunks are immutable and content-addressed: copy the chunk
 * store (`DATA/store`, or the bucket) after the backup, incrementally (rsync, rclone), within
 * `gcGrace` of it. Restore runs with the server stopped: it verifies the manifest and puts
 * the files back into a data directory.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { userInfo } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { AlreadyExistsError, ConfigError, HashMismatchError, NoSpaceError, ValidationError, fromSystemError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import type { MetaStore } from '../store/meta-store.js';
import { mkdirDurable, syncDir } from '../backends/local/local-backend.js';
import { lockDataDir } from './data-lock.js';
import { replaceFile } from './replace-file.js';

export const BACKUP_MANIFEST = 'ferry-backup.json';

export interface BackupManifest {
  format: 1;
  ferry: string;
  createdAt: string;
  files: { path: string; size: number; sha256: string }[];
  /** Where the chunks are (not in the backup): copy them separately. */
  chunkStores: string[];
  /**
   * Secrets of the data directory the backup does not hold, and why: a credential that
   * expires gets no `session-key` (it signs every web session and ticket, so whoever reads
   * the backup could sign in as anyone long after that credential ended). A server restored
   * from it makes a new key: web sessions end, API tokens stay.
   */
  leftOut?: { path: string; reason: string }[];
}

/**
 * The files besides meta.db that belong to a server's state (relative to the data directory).
 * Without `ssh/` a restored server made new SFTP host keys, and every client that had
 * connected before refused it as a changed host (OpenSSH: "REMOTE HOST IDENTIFICATION HAS CHANGED").
 */
const SECRETS = ['session-key', 'tls', 'ssh'];

/** What {@link backupServer} leaves out for a credential that expires. */
export const LEFT_OUT_FOR_EXPIRING: NonNullable<BackupManifest['leftOut']> = [
  { path: 'session-key', reason: 'made with a credential that expires: the key signs every web session, and would outlive it (a restored server makes a new one; web sessions then end)' },
];

/** Streamed: a metadata database of many gigabytes is hashed in 64 KiB pieces, not read whole. */
async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** fsync of a file written by other means (SQLite's backup, copyFile): its bytes on the disk. */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `dir` and every directory below it fsynced: the entries of the files written in them durable. */
async function syncTree(dir: string): Promise<void> {
  for (const e of await readdir(dir, { withFileTypes: true })) if (e.isDirectory()) await syncTree(join(dir, e.name));
  await syncDir(dir);
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const exists = (p: string) => stat(p).then(() => true, () => false);

/**
 * A backup directory the server may not write: the admin named it, so the refusal says so
 * in words (a 5xx "internal error" sent them to the server's log), with what to change.
 */
function refusedTarget(err: unknown, dir: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS') throw err;
  throw new ValidationError(
    `the server, running as ${userInfo().username}, may not write ${dir} (${code}): make the directory and give it to that user; under systemd the unit must also let it write there (deploy/ferry.service allows /var/backups/ferry)`,
    { cause: err },
  );
}

/**
 * Backs the server up into `target`, a new or empty directory. A backup that fails (a full
 * disk: ENOSPC, SQLite's SQLITE_FULL) leaves nothing behind: what it wrote is removed, and
 * the directory too when the backup made it, so that no half backup is taken for a whole one
 * (FERRY_ERR_NO_SPACE says so, naming the directory).
 */
export async function backupServer(meta: MetaStore, dataDir: string, target: string, chunkStores: string[], options: { leftOut?: BackupManifest['leftOut']; now?: Date } = {}): Promise<BackupManifest> {
  if (!isAbsolute(target)) throw new ValidationError('the backup directory must be an absolute path on the server');
  const dir = resolve(target);
  const data = resolve(dataDir);
  if (dir === data || dir.startsWith(data + '/')) throw new ValidationError('the backup directory must be outside the data directory');
  const made = await mkdirDurable(dir, 0o700).catch((err: unknown) => refusedTarget(err, dir));
  if ((await readdir(dir)).length > 0) throw new AlreadyExistsError(`${dir} is not empty: back up into a new directory`);
  try {
    return await writeBackup(meta, data, dir, chunkStores, options.leftOut ?? [], options.now ?? new Date());
  } catch (err) {
    if (made === undefined) for (const name of await readdir(dir).catch(() => [])) await rm(join(dir, name), { recursive: true, force: true });
    else await rm(made, { recursive: true, force: true });
    const failure = fromSystemError(err, dir);
    if (failure instanceof NoSpaceError) throw new NoSpaceError(`no space left on the device of ${dir} for the backup: the partial backup was removed; free some space there or back up elsewhere`, { cause: err, details: { dir } });
    throw failure;
  }
}

/** backupServer into `dir`, new or empty. */
async function writeBackup(meta: MetaStore, data: string, dir: string, chunkStores: string[], leftOut: NonNullable<BackupManifest['leftOut']>, now: Date): Promise<BackupManifest> {
  // Every file is made 0600 before a byte goes in: made with the umask's 0644 and narrowed at
  // the end, the copy of the database (password and token hashes) could be opened by any
  // local user meanwhile, and an open descriptor outlives the chmod. SQLite gives its
  // journal the database file's mode.
  const metaCopy = join(dir, 'meta.db');
  await writeFile(metaCopy, '', { mode: 0o600, flag: 'wx' }).catch((err: unknown) => refusedTarget(err, dir));
  await meta.backupTo(metaCopy).catch((err: unknown) => refusedTarget(err, dir));
  for (const name of SECRETS) {
    if (leftOut.some((l) => l.path === name)) continue;
    const from = join(data, name);
    if (!(await exists(from))) continue;
    const files = (await stat(from)).isDirectory() ? await walk(from) : [from];
    for (const f of files) {
      const to = join(dir, relative(data, f));
      await mkdir(dirname(to), { recursive: true, mode: 0o700 });
      await writeFile(to, await readFile(f), { mode: 0o600, flag: 'wx' });
    }
  }
  const files: BackupManifest['files'] = [];
  for (const f of await walk(dir)) {
    await chmod(f, 0o600);
    await syncFile(f);
    files.push({ path: relative(dir, f), size: (await stat(f)).size, sha256: await sha256File(f) });
  }
  // Everything the manifest names is durable before the manifest is written, and the manifest
  // itself (and the backup directory's entry in its parent) before the command answers: a
  // crash or power cut right after `ferry admin backup` said it was done does not take the
  // backup away (a backup directory it made is made durably too), nor leave a manifest naming files that came back empty.
  await syncTree(dir);
  const manifest: BackupManifest = { format: 1, ferry: VERSION, createdAt: now.toISOString(), files: files.sort((a, b) => (a.path < b.path ? -1 : 1)), chunkStores };
  if (leftOut.length > 0) manifest.leftOut = leftOut;
  await replaceFile(join(dir, BACKUP_MANIFEST), JSON.stringify(manifest, null, 2) + '\n', 0o600);
  return manifest;
}

/**
 * Puts a backup back into `dataDir` (the server must be stopped: a running
 * server's lock of the directory is refused). Every file is checked
 * against the manifest first; an existing `meta.db` is replaced only with `force`.
 */
export async function restoreServer(backupDir: string, dataDir: string, options: { force?: boolean } = {}): Promise<BackupManifest> {
  const dir = resolve(backupDir);
  let manifest: BackupManifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, BACKUP_MANIFEST), 'utf8')) as BackupManifest;
  } catch (err) {
    throw new ConfigError(`${dir}: not a Ferry backup (no readable ${BACKUP_MANIFEST})`, { cause: err });
  }
  if (manifest.format !== 1 || !Array.isArray(manifest.files)) throw new ConfigError(`${dir}: unknown backup format`);
  for (const f of manifest.files) {
    if (f.path.split('/').includes('..') || isAbsolute(f.path)) throw new ConfigError(`${dir}: bad path in the manifest: ${f.path}`);
    const actual = await sha256File(join(dir, f.path)).catch((err: unknown) => {
      throw new ConfigError(`${dir}: ${f.path} is missing`, { cause: err });
    });
    if (actual !== f.sha256) throw new HashMismatchError(`${dir}: ${f.path} does not match the backup manifest (damaged or altered)`, { details: { path: f.path } });
  }
  const data = resolve(dataDir);
  await mkdir(data, { recursive: true, mode: 0o700 });
  // A server running on the directory would go on writing to the database replaced under it,
  // and all it acknowledged from then on would be gone at its next start: take its lock.
  const lock = await lockDataDir(data);
  try {
    if ((await exists(join(data, 'meta.db'))) && !options.force) throw new AlreadyExistsError(`${data} already holds a metadata database: stop the server and pass --force to replace it`);
    // A write-ahead log of the replaced database must never be replayed into the restored one
    // (SQLite would apply its frames to whatever meta.db it finds): gone, durably, before the
    // restored database is put in place, so a crash in between cannot pair the two.
    await rm(join(data, 'meta.db-wal'), { force: true });
    await rm(join(data, 'meta.db-shm'), { force: true });
    await syncDir(data);
    const written = new Set<string>([data]);
    for (const f of manifest.files) {
      const to = join(data, f.path);
      written.add(dirname(to));
      await mkdir(dirname(to), { recursive: true, mode: 0o700 });
      const tmp = `${to}.restore-${process.pid}`;
      await copyFile(join(dir, f.path), tmp);
      await chmod(tmp, 0o600);
      await syncFile(tmp);
      await rename(tmp, to);
    }
    // Each restored file's new name durable before `ferry admin restore` answers.
    for (const d of written) await syncDir(d);
  } finally {
    await lock.release();
  }
  return manifest;
}
