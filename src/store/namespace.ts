/**
 * The namespace and the commit: one job of the metadata store (src/store/meta-store.ts is
 * the facade its callers use; the contract is docs/metadata.md, its tests
 * test/conformance/meta-store.ts). Paths, directories, file rows and the manifests they
 * point at, with their reference counts; a commit makes an upload session's files current
 * in one transaction. It leans on the chunk index (a manifest's chunks gain and lose
 * references here) and the upload sessions (what a commit verifies and then deletes).
 *
 * Invariants kept by every transaction here:
 * - every ancestor of a row in `files` is a `dir` row (the root is implicit);
 * - `manifests.refs` = number of `files` rows (and versions, trash entries) pointing at the
 *   manifest; a manifest at zero is deleted and its chunks' `refs` decremented;
 * - `chunks.refs` = number of manifests containing the chunk (counted once per manifest);
 * - a committed file's chunks are all in `chunks` (checked in the commit transaction: on
 *   PostgreSQL a chunk another node collected meanwhile fails the commit, see ChunkIndex.addRefs).
 * Nothing here is cached (the vault guard caches only facts of immutable content): what one
 * node commits, every node reads at once.
 */
import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { sql, type Expression, type ExpressionBuilder, type Kysely, type RawBuilder, type SelectQueryBuilder, type SqlBool, type Transaction } from 'kysely';
import {
  AlreadyExistsError,
  DirectoryNotEmptyError,
  HashMismatchError,
  IsADirectoryError,
  NotADirectoryError,
  NotFoundError,
  PathInvalidError,
  PayloadTooLargeError,
  SizeMismatchError,
  UploadIncompleteError,
  UploadNotFoundError,
  ValidationError,
} from '../core/errors.js';
import { FileHasher, type ChunkRef } from '../core/manifest.js';
import { MAX_PATH_BYTES, MAX_SEGMENT_BYTES, ancestors, baseName, isWithin, joinPath, parentPath, hasInvisibleCharacters, lookAlikeForm, refuseDirectionControls, refuseInvisibleName, utf8Length, writeOutInvisible } from '../core/path.js';
import type { Entry } from '../core/protocol.js';
import { batches } from './batches.js';
import type { ChunkIndex, MetaDb } from './chunk-index.js';
import { decodeChunkList, encodeChunkList } from './chunk-list-codec.js';
import { davRowsCopied, davRowsMoved, davRowsRemoved, davRowsRemovedSpan, deadPropBytes } from './dav-store.js';
import type { Database, FilesTable, ManifestsTable } from './meta-schema.js';
import { subtreeEnd, subtreeStart } from './path-range.js';
import { PreparedInsert } from './prepared-insert.js';
import { PreparedQuery } from './prepared-query.js';
import { ConcurrentChangeError } from './retry-conflicts.js';
import { distinctHashes, dropSessionProofs, type UploadSessions } from './upload-sessions.js';
import { GuardNeedsBytes, VaultGuard } from './vault-guard.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface ListOptions {
  recursive?: boolean;
  limit: number;
  /** Return entries with paths after this one (byte order). */
  cursor?: string;
  /** Attach `chunkList` to the entries of files of at most this many bytes. */
  chunkListsUpTo?: number;
}

export interface FileContent {
  entry: Entry;
  chunks: ChunkRef[];
}

export interface CommitFinal {
  size?: number;
  hash?: string;
  mtime?: number;
  mode?: number;
}

/** A file about to be committed, as a commit check sees it. */
export interface CommitCandidate {
  path: string;
  size: number;
}

export interface CommitOptions {
  /**
   * Runs inside the commit transaction, after the manifests are verified and before any
   * file is written; throwing rolls the whole commit back (quota checks live here, so two
   * concurrent commits cannot both squeeze under a limit).
   */
  check?: (trx: Transaction<Database>, files: CommitCandidate[], owner: string | null) => Promise<void>;
  /**
   * A condition on what a path holds when the commit replaces it (a WebDAV If-Match): called
   * inside the commit transaction once the path's name is locked (namespace lockNames), with
   * the entry there now (undefined: nothing, or an expired file). Throwing refuses the commit,
   * so the condition and the replacement are one step: no writer slips in between. It must not
   * use the database (the transaction holds SQLite's one connection).
   */
  expect?: (path: string, current: Entry | undefined) => void | Promise<void>;
  /**
   * Manifest entries the commit appends first to the session's file `fileIdx` (unsealed),
   * after its first `from`: a streamed upload's last chunks, stored and proven by the
   * session's owner already (ingest.ts). In the commit's transaction rather than one of
   * their own: a small file's only chunk, recorded and committed in one.
   */
  append?: { fileIdx: number; from: number; chunks: readonly ChunkRef[] };
}

export interface Usage {
  bytes: number;
  files: number;
}

/** A file's content that stops being current: replaced (overwrite) or deleted. */
export interface DepartingFile {
  path: string;
  manifest: string;
  size: number;
  mtime: number;
  mode: number | null;
  /** When this content became current. */
  since: number;
}

/**
 * Old versions and the trash (src/store/version-store.ts), called inside the transaction
 * that replaces or deletes files, before their manifests are released: it may take
 * references of its own on them (so their chunks stay).
 */
export interface RetentionHook {
  departing(trx: Transaction<Database>, files: readonly DepartingFile[], why: 'overwrite' | 'delete', now: number): Promise<void>;
  /**
   * `departing(…, 'delete')` for every file in `span` (a step of a recursive delete; the steps
   * of one delete share `batch`), called before their rows go: in SQL, whatever the number of files.
   */
  departingSpan(trx: Transaction<Database>, span: PathSpan, batch: string, now: number): Promise<void>;
}

/** What the namespace needs of the store that owns it. */
export interface NamespaceDb extends MetaDb {
  /** Reference counts of the chunks a manifest holds. */
  readonly chunkIndex: ChunkIndex;
  /** The sessions a commit verifies and ends. */
  readonly uploads: UploadSessions;
  /** Versions and the trash, told about content that stops being current (MetaStore.setRetention). */
  readonly retention?: RetentionHook;
}

/**
 * Where look-alike names meet: the NFC form of a name that is not plain ASCII, null for an
 * ASCII name (its own NFC form). Names are stored byte for byte; a directory never holds
 * two names with one NFC form (see Namespace.refuseLookAlikes).
 */
export function nameFold(name: string): string | null {
  return /^[\x00-\x7f]*$/.test(name) ? null : lookAlikeForm(name);
}

/**
 * The advisory-lock key of a name in its folder: the first 8 bytes of SHA-256 of the parent
 * and the name's NFC form, as a signed 64-bit integer. Look-alike names (`café` composed
 * and decomposed) share it, so they are refused one after the other like one name.
 */
function nameLockKey(path: string): string {
  const digest = createHash('sha256').update(parentPath(path) + '\0' + lookAlikeForm(baseName(path))).digest();
  return digest.readBigInt64BE(0).toString();
}

function lookAlikeError(path: string, existing: string): Error {
  if (hasInvisibleCharacters(baseName(path)) || hasInvisibleCharacters(baseName(existing))) {
    return new AlreadyExistsError(`${writeOutInvisible(path)}: ${writeOutInvisible(existing)} is there, a name that differs only by invisible characters (such as U+200B, a zero-width space); a directory holds one of them only`, {
      details: { path, existing, reason: 'look-alike' },
    });
  }
  const form = (p: string): string => (baseName(p) === baseName(p).normalize('NFC') ? 'NFC' : baseName(p) === baseName(p).normalize('NFD') ? 'NFD' : 'neither NFC nor NFD');
  return new AlreadyExistsError(
    `${path}: ${existing} is there, a name that differs only in its Unicode form (${form(path)} vs ${form(existing)}); a directory holds one of them only`,
    { details: { path, existing, reason: 'look-alike' } },
  );
}

function toEntry(row: FilesTable): Entry {
  const e: Entry = {
    path: row.path,
    name: row.name,
    type: row.type,
    size: Number(row.size),
    mtime: Number(row.mtime),
  };
  if (row.mode !== null) e.mode = row.mode;
  if (row.type === 'file' && row.manifest) e.hash = row.manifest;
  if (row.expires_at !== null) e.expiresAt = Number(row.expires_at);
  return e;
}

/** Options of {@link Namespace.remove}. */
export interface RemoveOptions {
  /** Remove a folder that is not empty, and everything in it. */
  recursive?: boolean;
  /** Rows one step of a recursive delete takes at most (default {@link DELETE_STEP_ROWS}; tests lower it). */
  stepRows?: number;
  /**
   * A condition on what the path holds (the native API's If-Match): called in the delete's
   * transaction once the name is locked (as a commit locks it), with the entry there now
   * (undefined: nothing); throwing refuses the delete. Not with the database (CommitOptions.expect).
   */
  expect?: (current: Entry | undefined) => void;
}

/** What {@link Namespace.place} made at the destination, and whether it replaced something there. */
export interface Placed {
  entry: Entry;
  replaced: boolean;
}

/** Options of {@link Namespace.move} and {@link Namespace.copy}. */
export interface MoveOptions {
  /** Replace an existing destination file (default true); a directory is never replaced (but see `replaceFolders`). */
  overwrite?: boolean;
  /**
   * With `overwrite`, also replace a folder at the destination (and all it holds), or a file
   * with a folder, deleting it in the move's or copy's own transaction (WebDAV's Overwrite: T):
   * a move or copy refused there leaves the destination as it was. A folder of more than
   * `maxEntries` rows is FERRY_ERR_PAYLOAD_TOO_LARGE (one transaction deletes it).
   */
  replaceFolders?: boolean;
  /**
   * The caller gives every name below a vault its new encrypted name (an end-to-end client
   * with the key: `ferry mv`, the web app). Without it the vault guard refuses moves and
   * copies that would strand encrypted names (FERRY_ERR_E2E_NEEDS_KEY).
   */
  reencrypt?: boolean;
  /** A copy of more files and folders than this is refused (default {@link MAX_COPY_ENTRIES}; tests lower it). */
  maxEntries?: number;
  /**
   * A condition on what the destination holds (the native API's If-Match / If-None-Match):
   * called in the move's or copy's transaction once the destination's name is locked, with
   * the entry there now (undefined: nothing, or an expired file), before `overwrite` is
   * looked at; throwing refuses the move or copy. Not with the database (CommitOptions.expect).
   */
  expect?: (current: Entry | undefined) => void;
  /**
   * A copy's check (the quota's), run first in its transaction: what it reads cannot change
   * before the rows are written, as a check before the transaction's could (copies at once).
   */
  within?: (trx: Transaction<Database>) => Promise<void>;
}

/**
 * Most files and folders one copy makes. A copy is one transaction that reads the rows it
 * copies: without a bound, each copy of a folder into itself doubled it for the price of one
 * request (18 requests made 262,144 empty files, which no byte quota counts), and the copy
 * of 2^17 of them held the metadata store's writes, every other user's uploads included, for
 * 36 s and took the server from 235 to 807 MB. Past it: FERRY_ERR_PAYLOAD_TOO_LARGE.
 */
export const MAX_COPY_ENTRIES = 100_000;

/** `path` itself or anything below it (`path` is not the root). */
function selfAndBelow(eb: ExpressionBuilder<Database, 'files'>, path: string): Expression<SqlBool> {
  return eb.or([eb('path', '=', path), eb.and([eb('path', '>', subtreeStart(path)), eb('path', '<', subtreeEnd(path))])]);
}

/**
 * `column` (a path below `from`) with its `from` replaced by `to`, computed in SQL: its
 * length() counts characters, JavaScript's counts UTF-16 units (they differ for emoji).
 */
function rebased(from: string, to: string, column: 'path' | 'parent'): RawBuilder<string> {
  return sql<string>`${to} || substr(${sql.ref(column)}, length(${from}) + 1)`;
}

/**
 * A run of `files` rows in path order: `from` (inclusive) up to `to` (exclusive). The rows
 * strictly below a folder `p` are the span (`p/`, `p0`) (path-range.ts; no path ends in `/`).
 */
export interface PathSpan {
  from: string;
  to: string;
}

/** The span of the rows strictly below the folder `root`. */
export const spanBelow = (root: string): PathSpan => ({ from: subtreeStart(root), to: subtreeEnd(root) });

/**
 * Adds `sign` times the number of files in `span` that point at a manifest to that
 * manifest's refs: one statement, whatever the number of files (a tree copied, deleted or
 * put in the trash).
 */
export async function addSpanManifestRefs(trx: Db, span: PathSpan, sign: 1 | -1): Promise<void> {
  await sql`update manifests set refs = refs ${sql.raw(sign === 1 ? '+' : '-')} c.n
    from (select manifest, count(*) as n from files
          where manifest is not null and path >= ${span.from} and path < ${span.to}
          group by manifest) as c
    where manifests.hash = c.manifest`.execute(trx);
}

/**
 * Rows a step of a recursive delete takes at most (in its own transaction). On SQLite a
 * delete of 2^18 files and their 2^19 folders in one transaction held the whole server
 * 7–19 s; in steps of this many rows other requests run between steps (a writer waited
 * 0.65 s at most). On PostgreSQL one transaction held the rows of every file, manifest and
 * chunk of the tree until the end.
 */
export const DELETE_STEP_ROWS = 10_000;

const ROOT_ENTRY = (): Entry => ({ path: '/', name: '', type: 'dir', size: 0, mtime: 0 });

const FILE_COLUMNS = ['path', 'parent', 'name', 'name_fold', 'type', 'size', 'mtime', 'mode', 'manifest', 'created_at', 'updated_at', 'expires_at'] as const satisfies readonly (keyof FilesTable)[];

function commitInserts() {
  return {
    manifests: new PreparedInsert<Database, ManifestsTable>(['hash', 'size', 'chunk_count', 'chunks', 'refs', 'created_at'], 60, (db, rows) => db.insertInto('manifests').values(rows)),
    // New files, and files replaced (created_at of a replaced file is kept).
    upsertFiles: new PreparedInsert<Database, FilesTable>(FILE_COLUMNS, 60, (db, rows) =>
      db
        .insertInto('files')
        .values(rows)
        .onConflict((oc) =>
          oc.column('path').doUpdateSet((eb) => ({
            size: eb.ref('excluded.size'),
            mtime: eb.ref('excluded.mtime'),
            mode: eb.ref('excluded.mode'),
            manifest: eb.ref('excluded.manifest'),
            updated_at: eb.ref('excluded.updated_at'),
            expires_at: eb.ref('excluded.expires_at'),
          })),
        ),
    ),
  };
}

/**
 * The statements every file's commit and every stat run, whatever the session's size,
 * built and compiled once (see PreparedQuery): Kysely's building was most of their cost, a
 * noticeable part of each small file an SFTP client writes.
 */
function commitQueries() {
  return {
    file: new PreparedQuery(1, (db: Kysely<Database>, path: string) => db.selectFrom('files').selectAll().where('path', '=', path)),
    upload: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.selectFrom('uploads').selectAll().where('id', '=', id)),
    sizeLie: new PreparedQuery(1, (db: Kysely<Database>, id: string) =>
      db
        .selectFrom('upload_entries as e')
        .innerJoin('chunks as c', 'c.hash', 'e.hash')
        .select(['e.hash', 'e.size as declared', 'c.size as actual'])
        .where('e.upload_id', '=', id)
        .whereRef('e.size', '<>', 'c.size')
        .limit(1),
    ),
    files: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.selectFrom('upload_files').selectAll().where('upload_id', '=', id).orderBy('idx')),
    entries: new PreparedQuery(1, (db: Kysely<Database>, id: string) =>
      db.selectFrom('upload_entries').select(['file_idx', 'hash', 'size']).where('upload_id', '=', id).orderBy('file_idx').orderBy('seq'),
    ),
    dropEntries: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.deleteFrom('upload_entries').where('upload_id', '=', id)),
    dropFiles: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.deleteFrom('upload_files').where('upload_id', '=', id)),
    dropUpload: new PreparedQuery(1, (db: Kysely<Database>, id: string) => db.deleteFrom('uploads').where('id', '=', id)),
  };
}

export class Namespace {
  /** Keeps plain files and names out of end-to-end folders (src/store/vault-guard.ts). */
  readonly guard = new VaultGuard();
  /** The inserts of a commit of many files, compiled once per batch size. */
  private readonly inserts = commitInserts();
  private readonly queries = commitQueries();

  constructor(private readonly meta: NamespaceDb) {}

  /**
   * Runs a write whose transaction consults the vault guard; when the guard must first
   * read content (never inside a transaction), it does and the write runs again. Content is
   * immutable, so a second round finds what the first learned (a third is for a marker
   * that changed in between).
   */
  private async guarded<T>(write: () => Promise<T>): Promise<T> {
    for (let round = 1; ; round++) {
      try {
        return await write();
      } catch (err) {
        if (!(err instanceof GuardNeedsBytes) || round >= 3) throw err;
        await this.guard.learn(this.db, err);
      }
    }
  }

  private get db(): Kysely<Database> {
    return this.meta.db;
  }

  private get retention(): RetentionHook | undefined {
    return this.meta.retention;
  }

  private get chunkIndex(): ChunkIndex {
    return this.meta.chunkIndex;
  }

  private now(): number {
    return this.meta.now();
  }

  /** The namespace writes files, folders and manifests, never security state (a user's row is only locked: MetaStore.durable's `security`). */
  private durable<T>(fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
    return this.meta.durable(fn, { security: false });
  }

  /**
   * Takes the names `paths` are about to be made at, until the transaction ends: what a
   * write then finds there (nothing, a file, a folder, a look-alike) stays so until it
   * commits. On PostgreSQL (READ COMMITTED) two commits for one free name otherwise both
   * found it free and the second's upsert replaced the first's file, "don't overwrite"
   * notwithstanding (and each released only what it had seen there). Transaction-scoped
   * advisory locks, as a chunk's (chunk-index.ts), taken in key order; a deadlock against
   * another order is retried (retry-conflicts.ts). SQLite's writers take turns: nothing to do.
   */
  private async lockNames(trx: Db, paths: Iterable<string>): Promise<void> {
    if (this.meta.dialect === 'sqlite') return;
    const keys = [...new Set([...paths].filter((p) => p !== '/').map(nameLockKey))].sort();
    for (const key of keys) await sql`select pg_advisory_xact_lock(${key}::bigint)`.execute(trx);
  }

  /** An expired file is gone for readers at once; the sweeper removes its row later. */
  private expired(row: Pick<FilesTable, 'expires_at'>): boolean {
    return row.expires_at !== null && Number(row.expires_at) <= this.now();
  }

  /** The entry at `path` (normalized); FERRY_ERR_NOT_FOUND when absent. */
  async stat(path: string, db: Db = this.db): Promise<Entry> {
    if (path === '/') return ROOT_ENTRY();
    const row = await this.queries.file.first(db as Kysely<Database>, path);
    // An expired file is gone for readers at once; the sweeper removes its row later.
    if (!row || (row.expires_at !== null && Number(row.expires_at) <= this.now())) {
      throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
    }
    return toEntry(row);
  }

  /** Entries of a directory (or a subtree), sorted by path, one page at a time. */
  async list(path: string, options: ListOptions): Promise<{ entries: Entry[]; next?: string }> {
    await this.listedDir(path);
    const rows = await this.listed(path, options.recursive === true, options.cursor, this.db.selectFrom('files').selectAll())
      .limit(options.limit + 1)
      .execute();
    const more = rows.length > options.limit;
    const page = more ? rows.slice(0, options.limit) : rows;
    const result: { entries: Entry[]; next?: string } = { entries: page.map(toEntry) };
    if (more) result.next = page[page.length - 1].path;
    if (options.chunkListsUpTo !== undefined) await this.attachChunkLists(result.entries, options.chunkListsUpTo);
    return result;
  }

  /** Throws unless `path` is a directory. */
  private async listedDir(path: string): Promise<void> {
    const dir = await this.stat(path);
    if (dir.type !== 'dir') throw new NotADirectoryError(`${path}: not a directory`, { details: { path } });
  }

  /** The rows a listing of `path` holds (children, or with `recursive` every descendant), unexpired, after `cursor`, in path order. */
  private listed<O>(path: string, recursive: boolean, cursor: string | undefined, q: SelectQueryBuilder<Database, 'files', O>): SelectQueryBuilder<Database, 'files', O> {
    let out = recursive ? q.where('path', '>', subtreeStart(path)).where('path', '<', subtreeEnd(path)) : q.where('parent', '=', path);
    if (cursor !== undefined) out = out.where('path', '>', cursor);
    const now = this.now();
    return out.where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])).orderBy('path');
  }

  /**
   * Every entry a recursive listing of the directory `path` holds, in path order (byte order:
   * what a listing digest is built in, core/tree-digest.ts), with only path, type, size and
   * mtime; read `pageSize` rows at a time, so a tree of any size takes bounded memory.
   */
  async forEachInTree(path: string, onRow: (row: { path: string; type: Entry['type']; size: number; mtime: number }) => void, pageSize = 10_000): Promise<void> {
    await this.listedDir(path);
    let cursor: string | undefined;
    for (;;) {
      const q = this.db.selectFrom('files').select(['path', 'type', 'size', 'mtime']);
      const rows = await this.listed(path, true, cursor, q).limit(pageSize).execute();
      for (const r of rows) onRow({ path: r.path, type: r.type, size: Number(r.size), mtime: Number(r.mtime) });
      if (rows.length < pageSize) return;
      cursor = rows[rows.length - 1].path;
    }
  }

  /** Sets `chunkList` on the file entries of at most `maxBytes` bytes (one query per 400 manifests). */
  private async attachChunkLists(entries: Entry[], maxBytes: number): Promise<void> {
    const wanted = entries.filter((e) => e.type === 'file' && e.size <= maxBytes && e.hash !== undefined);
    const lists = await this.manifestChunkLists(wanted.map((e) => e.hash!));
    for (const e of wanted) {
      const list = lists.get(e.hash!);
      if (list) e.chunkList = list;
    }
  }

  /** The chunk lists of manifests, by manifest hash (unknown hashes are absent). */
  async manifestChunkLists(hashes: readonly string[]): Promise<Map<string, ChunkRef[]>> {
    const lists = new Map<string, ChunkRef[]>();
    for (const part of batches([...new Set(hashes)])) {
      const rows = await this.db.selectFrom('manifests').select(['hash', 'chunks']).where('hash', 'in', part).execute();
      for (const r of rows) lists.set(r.hash, decodeChunkList(r.chunks));
    }
    return lists;
  }

  /** The entries at `paths` (one query per 400 paths); absent and expired paths are left out. */
  async statMany(paths: readonly string[]): Promise<Map<string, Entry>> {
    const out = new Map<string, Entry>();
    const now = this.now();
    for (const part of batches([...new Set(paths)])) {
      const rows = await this.db.selectFrom('files').selectAll().where('path', 'in', part).execute();
      for (const row of rows) if (row.expires_at === null || Number(row.expires_at) > now) out.set(row.path, toEntry(row));
    }
    return out;
  }

  /** The manifest of the file at `path`. */
  async fileContent(path: string): Promise<FileContent> {
    const entry = await this.stat(path);
    if (entry.type !== 'file') throw new IsADirectoryError(`${path}: is a directory`, { details: { path } });
    const m = await this.db.selectFrom('manifests').select(['chunks']).where('hash', '=', entry.hash!).executeTakeFirst();
    if (!m) throw new NotFoundError(`${path}: manifest missing`, { details: { path } });
    const chunks = decodeChunkList(m.chunks);
    entry.chunks = chunks.length;
    return { entry, chunks };
  }

  /** When the entry at `path` was last written (content replaced, moved, attributes set), if it exists. */
  async changedAt(path: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('files').select('updated_at').where('path', '=', path).executeTakeFirst();
    return row ? Number(row.updated_at) : undefined;
  }

  /**
   * Sets the mtime and/or mode of an existing file or directory (SFTP's setstat, `touch`).
   * The root has none to set. FERRY_ERR_NOT_FOUND when absent.
   */
  async setAttributes(path: string, attrs: { mtime?: number; mode?: number }): Promise<Entry> {
    if (path === '/') throw new ValidationError('the root has no attributes to set');
    return this.durable(async (trx) => {
      await this.stat(path, trx);
      const set: { mtime?: number; mode?: number; updated_at: number } = { updated_at: this.now() };
      if (attrs.mtime !== undefined) set.mtime = attrs.mtime;
      if (attrs.mode !== undefined) set.mode = attrs.mode & 0o7777;
      await trx.updateTable('files').set(set).where('path', '=', path).execute();
      return this.stat(path, trx);
    });
  }

  /** Creates a directory; with `parents`, missing ancestors too and no error if it exists. */
  async mkdir(path: string, options: { parents?: boolean } = {}): Promise<Entry> {
    if (path === '/') {
      if (options.parents) return ROOT_ENTRY();
      throw new AlreadyExistsError('/: already exists');
    }
    return this.guarded(() => this.durable(async (trx) => {
      await this.lockNames(trx, [path]);
      const existing = await trx.selectFrom('files').selectAll().where('path', '=', path).executeTakeFirst();
      if (existing) {
        if (existing.type !== 'dir') throw new AlreadyExistsError(`${path}: a file exists there`, { details: { path } });
        if (options.parents) return toEntry(existing);
        throw new AlreadyExistsError(`${path}: already exists`, { details: { path } });
      }
      await this.guard.checkWrites(trx, [{ path, type: 'dir' }]);
      const now = this.now();
      if (options.parents) {
        await this.ensureDirs(trx, path, now, new Set());
      } else {
        const parent = parentPath(path);
        const p = parent === '/' ? ROOT_ENTRY() : await this.stat(parent, trx).catch(() => undefined);
        if (!p) throw new NotFoundError(`${parent}: no such directory`, { details: { path: parent } });
        if (p.type !== 'dir') throw new NotADirectoryError(`${parent}: not a directory`, { details: { path: parent } });
        await this.ensureDirs(trx, path, now, new Set());
      }
      return this.stat(path, trx);
    }));
  }

  /**
   * Makes sure `path` and its ancestors are directories, creating the missing ones.
   * FERRY_ERR_NOT_A_DIRECTORY if one of them is a file. `known` caches directories already
   * checked in this transaction (batch commits touch the same parents many times).
   */
  private async ensureDirs(trx: Db, path: string, now: number, known: Set<string>): Promise<void> {
    await this.ensureDirsOf(trx, [path], now, known);
  }

  /** {@link ensureDirs} for many directories at once: one lookup per 400 paths, one insert per 100 new directories. */
  private async ensureDirsOf(trx: Db, paths: Iterable<string>, now: number, known: Set<string>): Promise<void> {
    const wanted = new Set<string>();
    const asked: string[] = [];
    for (const path of paths) {
      if (path === '/' || known.has(path)) continue;
      asked.push(path);
      for (const p of [...ancestors(path), path]) if (!known.has(p)) wanted.add(p);
    }
    if (wanted.size === 0) return;
    const found = new Map<string, string>();
    for (const part of batches([...wanted])) {
      const rows = await trx.selectFrom('files').select(['path', 'type']).where('path', 'in', part).execute();
      for (const r of rows) found.set(r.path, r.type);
    }
    const create: FilesTable[] = [];
    for (const p of [...wanted].sort()) {
      const t = found.get(p);
      if (t === 'file') throw new NotADirectoryError(`${p}: is a file, not a directory`, { details: { path: p } });
      if (t === undefined) create.push({ path: p, parent: parentPath(p), name: baseName(p), name_fold: nameFold(baseName(p)), type: 'dir', size: 0, mtime: now, mode: null, manifest: null, created_at: now, updated_at: now, expires_at: null });
      known.add(p);
    }
    await this.holdFolders(trx, asked, found);
    // Locked before they are inserted: a file being put at one of these names (it holds the
    // lock from before it looked) is either seen here on a retry or sees the folder.
    await this.lockNames(trx, create.map((c) => c.path));
    await this.refuseLookAlikes(trx, create.map((c) => c.path));
    for (const part of batches(create, 100)) await trx.insertInto('files').values(part).execute();
  }

  /**
   * PostgreSQL: holds the deepest folder found of each of `paths` (FOR KEY SHARE) until the
   * transaction ends, for what the caller is about to put in it. A move or a delete of a tree
   * changes that row's key, so it waits for this transaction, and one that came first makes
   * this one run again (the folder gone: ConcurrentChangeError). Without it, a folder moved
   * or deleted on another node after this transaction found it got its new child below the
   * old path, where no folder was any more (test/store/tree-race-postgres.test.ts). The
   * deepest is enough: moving or deleting any folder above changes that one's row too.
   * SQLite's writers take turns: nothing to do.
   */
  private async holdFolders(trx: Db, paths: readonly string[], found: ReadonlyMap<string, string>): Promise<void> {
    if (this.meta.dialect === 'sqlite') return;
    const deepest = new Set<string>();
    for (let p of paths) {
      while (p !== '/' && !found.has(p)) p = parentPath(p);
      if (p !== '/') deepest.add(p);
    }
    for (const part of batches([...deepest].sort())) {
      const held = await trx.selectFrom('files').select('path').where('path', 'in', part).where('type', '=', 'dir').forKeyShare().execute();
      if (held.length < part.length) throw new ConcurrentChangeError('a folder was moved or deleted by another transaction meanwhile');
    }
  }

  /**
   * PostgreSQL, after a move or a delete of the tree at `path` in `trx`: the first row still
   * below it, one a writer put there after the statement began, having found its folder
   * (which it holds, see {@link holdFolders}, so the statement waited for it to commit). The
   * folders this transaction changed stay locked until it ends, so writers that come later
   * wait and then find them gone: doing the same to what is left, and asking again, ends.
   */
  private async leftBelow(trx: Db, path: string): Promise<string | undefined> {
    if (this.meta.dialect === 'sqlite') return undefined;
    const left = await trx.selectFrom('files').select('path').where('path', '>', subtreeStart(path)).where('path', '<', subtreeEnd(path)).orderBy('path').limit(1).executeTakeFirst();
    return left?.path;
  }

  /**
   * FERRY_ERR_ALREADY_EXISTS when a path about to be made has a look-alike: a sibling whose
   * name has the same NFC form but other bytes (`café` composed and decomposed), already
   * there or among `paths` themselves. Two such names would show as one in every listing and
   * collide on file systems that normalize (macOS); Ferry keeps names byte for byte and
   * refuses the second instead. `except` is a path about to go away (a move's source).
   * A new name holding a direction control, which shows as another name, is refused here too
   * (core/path.ts, refuseDirectionControls), and so is one made of invisible characters only
   * (refuseInvisibleName): every way a name is made comes through here. Look-alikes are
   * compared by core/path.ts's lookAlikeForm: NFC, without invisible characters.
   */
  /**
   * `path` if free, else the first free of "name (1).ext", "name (2).ext", ... (past 100, a
   * random number): free means no file or folder there nor a look-alike, and not in `chosen`
   * (the other files of the commit), to which it is added.
   */
  private async freePath(trx: Db, path: string, chosen: Set<string>): Promise<string> {
    const name = baseName(path);
    const dot = name.lastIndexOf('.');
    const [stem, ext] = dot > 0 && Buffer.byteLength(name.slice(dot)) <= 64 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
    // A name already of the longest kind loses the end of its stem, not its number.
    const numbered = (n: string): string => {
      const chars = [...stem];
      while (chars.length > 1 && Buffer.byteLength(`${chars.join('')} (${n})${ext}`) > MAX_SEGMENT_BYTES) chars.pop();
      return `${chars.join('')} (${n})${ext}`;
    };
    for (let n = 0; ; n++) {
      const candidate = n === 0 ? path : joinPath(parentPath(path), numbered(n <= 100 ? String(n) : randomBytes(6).toString('hex')));
      if (chosen.has(candidate)) continue;
      await this.lockNames(trx, [candidate]); // an owner's own write of this name waits, or is seen
      if (await trx.selectFrom('files').select('path').where('path', '=', candidate).executeTakeFirst()) continue;
      try {
        await this.refuseLookAlikes(trx, [candidate]);
      } catch (err) {
        if (err instanceof AlreadyExistsError) continue;
        throw err;
      }
      chosen.add(candidate);
      return candidate;
    }
  }

  private async refuseLookAlikes(trx: Db, paths: readonly string[], except?: string): Promise<void> {
    for (const p of paths) {
      refuseDirectionControls(baseName(p));
      refuseInvisibleName(baseName(p));
    }
    const wanted = new Map<string, string>(); // parent \0 NFC name -> path
    for (const p of paths) {
      const key = parentPath(p) + '\0' + lookAlikeForm(baseName(p));
      const other = wanted.get(key);
      if (other !== undefined && other !== p) throw lookAlikeError(p, other);
      wanted.set(key, p);
    }
    const check = (row: { path: string; parent: string; name: string }, fold: string): void => {
      const p = wanted.get(row.parent + '\0' + fold);
      if (p !== undefined && p !== row.path && row.path !== except) throw lookAlikeError(p, row.path);
    };
    for (const part of batches([...wanted.keys()], 200)) {
      const nfc = part.map((k) => {
        const [parent, name] = k.split('\0');
        return { parent, name, path: parent === '/' ? '/' + name : parent + '/' + name };
      });
      // A sibling named exactly by the NFC form (an ASCII or composed name) ...
      for (const r of await trx.selectFrom('files').select(['path', 'parent', 'name']).where('path', 'in', nfc.map((n) => n.path)).execute()) check(r, r.name);
      // ... or by another form of it (a decomposed name; even an ASCII name has look-alikes:
      // U+212A KELVIN SIGN normalizes to K).
      const rows = await trx
        .selectFrom('files')
        .select(['path', 'parent', 'name', 'name_fold'])
        .where('name_fold', 'in', [...new Set(nfc.map((n) => n.name))])
        .where('parent', 'in', [...new Set(nfc.map((n) => n.parent))])
        .execute();
      for (const r of rows) check(r, r.name_fold!);
    }
  }

  /**
   * Sets the modification time of a file or directory (WebDAV PROPPATCH of
   * getlastmodified); FERRY_ERR_NOT_FOUND when absent. Run inside `db` when given.
   */
  async setMtime(path: string, mtime: number, db: Db = this.db): Promise<void> {
    if (path === '/') throw new ValidationError('the root has no modification time to set');
    const r = await db.updateTable('files').set({ mtime, updated_at: this.now() }).where('path', '=', path).executeTakeFirst();
    if (Number(r.numUpdatedRows) === 0) throw new NotFoundError(`${path}: no such file or directory`, { details: { path } });
  }

  /**
   * Moves a file or a directory tree: one transaction, no bytes copied. Replaces an existing
   * destination file when `overwrite` (default true); never replaces a directory.
   */
  async move(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return (await this.place('move', from, to, options)).entry;
  }

  /** A move or a copy, and whether it replaced something at `to` (in its transaction). */
  async place(op: 'move' | 'copy', from: string, to: string, options: MoveOptions = {}): Promise<Placed> {
    return op === 'move' ? this.moveReplacing(from, to, options) : this.copyReplacing(from, to, options);
  }

  private async moveReplacing(from: string, to: string, options: MoveOptions): Promise<Placed> {
    if (from === '/' || to === '/') throw new ValidationError('the root cannot be moved or replaced');
    if (from === to) return { entry: await this.stat(from), replaced: false };
    if (isWithin(to, from)) throw new ValidationError(`cannot move ${from} into itself (${to})`);
    return this.guarded(() => this.durable(async (trx) => {
      const src = await this.stat(from, trx);
      await this.guard.checkMarkerRemoval(trx, from);
      await this.guardDestination(trx, src, from, to, options);
      if (src.type === 'dir') await this.refuseLongPaths(trx, from, to);
      const now = this.now();
      const replaced = await this.clearDestination(trx, to, src.type, options);
      await this.ensureDirs(trx, parentPath(to), now, new Set());
      await this.refuseLookAlikes(trx, [to], from);
      const renamed = { path: to, parent: parentPath(to), name: baseName(to), name_fold: nameFold(baseName(to)), updated_at: now };
      if (src.type === 'file') {
        await trx.updateTable('files').set(renamed).where('path', '=', from).execute();
      } else {
        // Children first, then the directory itself; then what writers put in it meanwhile.
        const moveChildren = () =>
          trx
            .updateTable('files')
            .set({ path: rebased(from, to, 'path'), parent: rebased(from, to, 'parent') })
            .where('path', '>', subtreeStart(from))
            .where('path', '<', subtreeEnd(from))
            .execute();
        await moveChildren();
        await trx.updateTable('files').set(renamed).where('path', '=', from).execute();
        while (await this.leftBelow(trx, from)) await moveChildren();
      }
      await davRowsMoved(trx, from, to);
      return { entry: await this.stat(to, trx), replaced };
    }));
  }

  /** The vault guard's say on `src` (at `from`) arriving at `to` by a move or copy. */
  private async guardDestination(trx: Db, src: Entry, from: string, to: string, options: MoveOptions): Promise<void> {
    if (src.type === 'file') await this.guard.checkWrites(trx, [{ path: to, type: 'file', manifest: src.hash }]);
    else await this.guard.checkTree(trx, from, to);
    if (!options.reencrypt) await this.guard.checkRename(trx, from, to, src.type);
  }

  /**
   * What a move or copy would be refused for by the vault guard, checked without doing it:
   * for a front that must clear the destination first (WebDAV's Overwrite: T), so that a
   * refused MOVE does not leave the destination deleted.
   */
  async checkMoveOrCopy(op: 'move' | 'copy', from: string, to: string, options: MoveOptions = {}): Promise<void> {
    await this.guarded(() =>
      this.db.transaction().execute(async (trx) => {
        const src = await this.stat(from, trx);
        if (op === 'move') await this.guard.checkMarkerRemoval(trx, from);
        else await this.refuseLargeCopy(trx, from, options.maxEntries ?? MAX_COPY_ENTRIES);
        await this.guardDestination(trx, src, from, to, options);
      }),
    );
  }

  /**
   * FERRY_ERR_PATH_INVALID when a path below the folder `from` would be longer than any path
   * may be (MAX_PATH_BYTES) once at `to`. Every path a request names is checked so
   * (normalizePath); a deep folder moved under a longer name made paths no route then took:
   * listed, never read, downloaded or deleted by name (twelfth security round).
   */
  private async refuseLongPaths(trx: Db, from: string, to: string): Promise<void> {
    const growth = utf8Length(to) - utf8Length(from);
    if (growth <= 0) return;
    // octet_length: bytes, as MAX_PATH_BYTES counts them, in SQLite (3.43+) and PostgreSQL alike.
    const row = await trx
      .selectFrom('files')
      .select(sql<number | null>`max(octet_length(path))`.as('longest'))
      .where('path', '>', subtreeStart(from))
      .where('path', '<', subtreeEnd(from))
      .executeTakeFirst();
    const longest = Number(row?.longest ?? 0) + growth;
    if (longest > MAX_PATH_BYTES) {
      throw new PathInvalidError(`${to}: the paths below it would be longer than ${MAX_PATH_BYTES} bytes (${longest}): choose a shorter name, or move the folders inside one at a time`, { details: { path: to } });
    }
  }

  /** FERRY_ERR_PAYLOAD_TOO_LARGE when `from` and what lies below it are more than `max` rows (read no further than that). */
  private async refuseLargeCopy(trx: Db, from: string, max: number): Promise<void> {
    const { n } = await trx
      .selectFrom((db) => db.selectFrom('files').select('path').where((eb) => selfAndBelow(eb, from)).limit(max + 1).as('counted'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(n) > max) {
      throw new PayloadTooLargeError(`${from} holds more than ${max} files and folders, more than one copy makes: copy the folders inside it one at a time`, { details: { max } });
    }
  }

  /** Copies a file or a tree by reference: manifests are shared, no chunk is copied. */
  async copy(from: string, to: string, options: MoveOptions = {}): Promise<Entry> {
    return (await this.place('copy', from, to, options)).entry;
  }

  private async copyReplacing(from: string, to: string, options: MoveOptions): Promise<Placed> {
    if (to === '/') throw new ValidationError('the root cannot be replaced');
    if (from === to) throw new ValidationError('source and destination are the same');
    if (isWithin(to, from)) throw new ValidationError(`cannot copy ${from} into itself (${to})`);
    const max = options.maxEntries ?? MAX_COPY_ENTRIES;
    return this.guarded(() => this.durable(async (trx) => {
      await options.within?.(trx);
      const src = await this.stat(from, trx);
      await this.guardDestination(trx, src, from, to, options);
      if (src.type === 'dir') await this.refuseLongPaths(trx, from, to);
      const now = this.now();
      const replaced = await this.clearDestination(trx, to, src.type, options);
      await this.ensureDirs(trx, parentPath(to), now, new Set());
      await this.refuseLookAlikes(trx, [to]);
      // `to` is not inside `from` (checked above), so `from` is not the root here.
      await this.refuseLargeCopy(trx, from, max);
      // In SQL, whatever the number of rows: the manifests gain a reference per file copied,
      // then the rows are copied with their paths rebased (reading them into the process
      // took 800 MB for 2^17 files; docs/security-audit.md, fifth round).
      if (src.type === 'file') await this.addManifestRefs(trx, new Map([[src.hash!, 1]]), 1);
      else await addSpanManifestRefs(trx, spanBelow(from), 1);
      await trx
        .insertInto('files')
        .columns(FILE_COLUMNS)
        .expression(
          trx
            .selectFrom('files')
            .select([sql.val(to).as('path'), sql.val(parentPath(to)).as('parent'), sql.val(baseName(to)).as('name'), sql.val(nameFold(baseName(to))).as('name_fold'), 'type', 'size', 'mtime', 'mode', 'manifest', sql.val(now).as('created_at'), sql.val(now).as('updated_at'), 'expires_at'])
            .where('path', '=', from),
        )
        .execute();
      await trx
        .insertInto('files')
        .columns(FILE_COLUMNS)
        .expression(
          trx
            .selectFrom('files')
            .select([rebased(from, to, 'path').as('path'), rebased(from, to, 'parent').as('parent'), 'name', 'name_fold', 'type', 'size', 'mtime', 'mode', 'manifest', sql.val(now).as('created_at'), sql.val(now).as('updated_at'), 'expires_at'])
            .where('path', '>', subtreeStart(from))
            .where('path', '<', subtreeEnd(from)),
        )
        .execute();
      await davRowsCopied(trx, from, to);
      return { entry: await this.stat(to, trx), replaced };
    }));
  }

  /**
   * Makes room for a `type` at `to`, and says whether something was there: nothing there is
   * fine; a file is removed when `overwrite` and `type` is a file (it may become a version);
   * with `replaceFolders` too, whatever is there goes as a delete would take it (to the
   * trash, when on); anything else is FERRY_ERR_ALREADY_EXISTS.
   */
  private async clearDestination(trx: Db, to: string, type: 'file' | 'dir', options: MoveOptions): Promise<boolean> {
    const overwrite = options.overwrite ?? true;
    await this.lockNames(trx, [to]);
    const dst = await trx.selectFrom('files').selectAll().where('path', '=', to).executeTakeFirst();
    options.expect?.(dst && !this.expired(dst) ? toEntry(dst) : undefined);
    if (!dst) return false;
    const fileOverFile = dst.type === 'file' && type === 'file' && overwrite;
    if (!fileOverFile && !(overwrite && options.replaceFolders)) {
      throw new AlreadyExistsError(dst.type === 'dir' ? `${to}: a directory exists there` : `${to}: already exists`, { details: { path: to } });
    }
    if (dst.type === 'dir') {
      await this.refuseLargeReplace(trx, to, options.maxEntries ?? MAX_COPY_ENTRIES);
      await this.removeSpan(trx as Transaction<Database>, spanBelow(to), randomBytes(8).toString('hex'));
      await trx.deleteFrom('files').where('path', '=', to).execute();
      await davRowsRemoved(trx, to);
      return true;
    }
    if (!fileOverFile) await this.guard.checkMarkerRemoval(trx, to);
    await trx.deleteFrom('files').where('path', '=', to).execute();
    if (dst.manifest) await this.retention?.departing(trx as Transaction<Database>, [departingOf(dst)], fileOverFile ? 'overwrite' : 'delete', this.now());
    if (dst.manifest) await this.derefManifests(trx, new Map([[dst.manifest, 1]]));
    await davRowsRemoved(trx, to);
    return true;
  }

  /** FERRY_ERR_PAYLOAD_TOO_LARGE when the folder `to` holds more than `max` rows: one transaction would delete them all. */
  private async refuseLargeReplace(trx: Db, to: string, max: number): Promise<void> {
    const { n } = await trx
      .selectFrom((db) => db.selectFrom('files').select('path').where('path', '>', subtreeStart(to)).where('path', '<', subtreeEnd(to)).limit(max + 1).as('counted'))
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(n) > max) {
      throw new PayloadTooLargeError(`${to} holds more than ${max} files and folders, more than a move or copy replaces at once: delete it first`, { details: { max } });
    }
  }

  /**
   * Removes a file, or a directory (`recursive` for a non-empty one). Returns files and
   * folders removed. A file or an empty folder goes in one transaction, a tree in steps
   * ({@link removeTree}).
   */
  async remove(path: string, options: RemoveOptions = {}): Promise<{ files: number; dirs: number }> {
    if (path === '/') throw new ValidationError('the root cannot be deleted');
    const removed = await this.guarded(() => this.durable(async (trx): Promise<{ files: number; dirs: number } | undefined> => {
      if (options.expect) {
        // Locked as a commit locks it: a commit replacing the file meanwhile is seen whole.
        await this.lockNames(trx, [path]);
        options.expect(await this.stat(path, trx).catch((err: unknown) => (err instanceof NotFoundError ? undefined : Promise.reject(err))));
      }
      const entry = await this.stat(path, trx);
      if (entry.type === 'file') {
        await this.guard.checkMarkerRemoval(trx, path);
        if (this.retention) {
          const row = await trx.selectFrom('files').select(['path', 'manifest', 'size', 'mtime', 'mode', 'updated_at']).where('path', '=', path).executeTakeFirstOrThrow();
          await this.retention.departing(trx as Transaction<Database>, [departingOf(row)], 'delete', this.now());
        }
        await trx.deleteFrom('files').where('path', '=', path).execute();
        await this.derefManifests(trx, new Map([[entry.hash!, 1]]));
        await davRowsRemoved(trx, path);
        return { files: 1, dirs: 0 };
      }
      if (!options.recursive) {
        const child = await trx.selectFrom('files').select('path').where('path', '>', subtreeStart(path)).where('path', '<', subtreeEnd(path)).limit(1).executeTakeFirst();
        if (child) throw new DirectoryNotEmptyError(`${path}: directory not empty`, { details: { path } });
        await trx.deleteFrom('files').where('path', '=', path).execute();
        // Made in it meanwhile by another node (see leftBelow): it was not empty after all.
        if (await this.leftBelow(trx, path)) throw new DirectoryNotEmptyError(`${path}: directory not empty`, { details: { path } });
        await davRowsRemoved(trx, path);
        return { files: 0, dirs: 1 };
      }
      return undefined;
    }));
    // In steps on PostgreSQL too: it locks the tree's rows, not the database, but one
    // transaction held them, and the rows of the manifests and chunks its files share with
    // files elsewhere (whose commits, overwrites and deletes waited), for the whole tree.
    return removed ?? this.removeTree(path, options.stepRows ?? DELETE_STEP_ROWS);
  }

  /**
   * Deletes the folder `path` and everything below it in steps of at most `stepRows` rows
   * (undefined: one step), each its own transaction, so that other writers run in between.
   * Each step takes the rows that sort last (descending byte order puts a folder's contents
   * before the folder), so every row left still has all its ancestors; the folder goes in
   * the last step with whatever was made in it meanwhile. A crash between steps leaves the
   * tree partly deleted (as `rm -r` would), never a row without its folder. Files go to the
   * trash (when on) in one batch across the steps.
   */
  private async removeTree(path: string, stepRows: number | undefined): Promise<{ files: number; dirs: number }> {
    const below = spanBelow(path);
    const batch = randomBytes(8).toString('hex');
    const total = { files: 0, dirs: 0 };
    // Rows from here up went in earlier steps. Each step but the last looks only below it:
    // on PostgreSQL the index entries of deleted rows stay until vacuum, and steps that each
    // scanned from the top walked all of them again (2^16 files took 11.7 s instead of 1.5).
    // A row made up there meanwhile is in a folder still below: the last step takes it.
    let ceiling = below.to;
    for (;;) {
      // Counted once the step committed (PostgreSQL may run a transaction again: retry-conflicts.ts).
      const step = await this.durable(async (trx) => {
        // Moved away or deleted by another request between two steps: what was deleted stays so.
        const root = await trx.selectFrom('files').select('type').where('path', '=', path).executeTakeFirst();
        if (root?.type !== 'dir') return { files: 0, dirs: 0, last: true };
        const rows = (to: string) => trx.selectFrom('files').select('path').where('path', '>=', below.from).where('path', '<', to);
        const edge = stepRows === undefined ? undefined : await rows(ceiling).orderBy('path', 'desc').offset(stepRows - 1).limit(1).executeTakeFirst();
        if (edge) return { ...(await this.removeSpan(trx, { from: edge.path, to: ceiling }, batch)), last: false, edge: edge.path };
        // Fewer rows than a step left: they go with the folder.
        const lowest = await rows(below.to).orderBy('path').limit(1).executeTakeFirst();
        const removed = lowest ? await this.removeSpan(trx, { from: lowest.path, to: below.to }, batch) : { files: 0, dirs: 0 };
        await trx.deleteFrom('files').where('path', '=', path).execute();
        // What writers made in it meanwhile (see leftBelow) goes with it.
        for (let left = await this.leftBelow(trx, path); left !== undefined; left = await this.leftBelow(trx, path)) {
          const more = await this.removeSpan(trx, { from: left, to: below.to }, batch);
          removed.files += more.files;
          removed.dirs += more.dirs;
        }
        await davRowsRemoved(trx, path);
        return { files: removed.files, dirs: removed.dirs + 1, last: true };
      });
      total.files += step.files;
      total.dirs += step.dirs;
      if (step.last) return total;
      if ('edge' in step && step.edge !== undefined) ceiling = step.edge;
      // better-sqlite3 answers at once, so one step's promise continues straight into the next
      // without the event loop getting a turn: waiting for the next turn is what lets other
      // requests (their sockets, their timers) run between steps on SQLite.
      await nextTurn();
    }
  }

  /**
   * Deletes the rows of `span` (a set of whole subtrees) in SQL, whatever their number: the
   * trash takes its rows and references, then the files' references go, then the rows, and
   * manifests left without references release their chunks.
   */
  private async removeSpan(trx: Transaction<Database>, span: PathSpan, batch: string): Promise<{ files: number; dirs: number }> {
    const rows = trx.selectFrom('files').where('path', '>=', span.from).where('path', '<', span.to);
    const { files } = await rows.select((eb) => eb.fn.countAll<number>().as('files')).where('type', '=', 'file').executeTakeFirstOrThrow();
    if (this.retention) await this.retention.departingSpan(trx, span, batch, this.now());
    await addSpanManifestRefs(trx, span, -1);
    const dead = await trx.selectFrom('manifests').select('hash').where('refs', '<=', 0).where('hash', 'in', rows.select('manifest').where('manifest', 'is not', null)).execute();
    const { numDeletedRows } = await trx.deleteFrom('files').where('path', '>=', span.from).where('path', '<', span.to).executeTakeFirst();
    await this.dropManifests(trx, dead.map((m) => m.hash));
    await davRowsRemovedSpan(trx, span);
    return { files: Number(files), dirs: Number(numDeletedRows) - Number(files) };
  }

  /** Decrements manifest refs by the given counts; manifests reaching zero release their chunks. */
  private async derefManifests(trx: Db, counts: Map<string, number>): Promise<void> {
    await this.addManifestRefs(trx, counts, -1);
    await this.dropManifests(trx, [...counts.keys()]);
  }

  /** Of these manifests, deletes those at zero references, releasing their chunks: a few statements per 400 manifests. */
  private async dropManifests(trx: Db, hashes: readonly string[]): Promise<void> {
    for (const part of batches(hashes)) {
      const dead = await trx.selectFrom('manifests').select(['hash', 'chunks']).where('hash', 'in', part).where('refs', '<=', 0).execute();
      if (dead.length === 0) continue;
      const released = new Map<string, number>();
      for (const m of dead) for (const c of distinctHashes(decodeChunkList(m.chunks))) released.set(c, (released.get(c) ?? 0) + 1);
      for (const [n, chunks] of groupByCount(released)) await this.chunkIndex.addRefs(trx, chunks, -n);
      await trx.deleteFrom('manifests').where('hash', 'in', dead.map((m) => m.hash)).execute();
    }
  }

  /** Adds `sign * n` to each manifest's refs; one statement per distinct n and 400 hashes. */
  private async addManifestRefs(trx: Db, counts: Map<string, number>, sign: 1 | -1): Promise<void> {
    for (const [n, hashes] of groupByCount(counts)) {
      for (const part of batches(hashes)) {
        await trx.updateTable('manifests').set({ refs: sql<number>`refs + ${sign * n}` }).where('hash', 'in', part).execute();
      }
    }
  }

  /** Drops references on manifests (a version or trash entry that goes); chunks follow at zero. */
  async releaseManifests(trx: Transaction<Database>, counts: Map<string, number>): Promise<void> {
    await this.derefManifests(trx, counts);
  }

  /**
   * Makes existing content (a manifest already stored: an old version, a trashed file) the
   * file at `path`, replacing what is there as an overwrite does (so the replaced content
   * may become a version). `within` runs in the same transaction (quota checks, removing
   * the trash entry). `from`: where the content was (default `path`); `reencrypt`: the
   * client computed the stored names of `path` with the end-to-end key (vault-guard.ts,
   * checkRestore).
   */
  async restoreContent(
    path: string,
    content: { manifest: string; size: number; mtime: number; mode: number | null },
    options: { noOverwrite?: boolean; within?: (trx: Transaction<Database>) => Promise<void>; from?: string; reencrypt?: boolean } = {},
  ): Promise<Entry> {
    return this.guarded(() => this.durable(async (trx) => {
      await options.within?.(trx);
      // Names in a vault are encrypted for their place: content restored elsewhere than where it was needs the key (vault-guard.ts).
      if (!options.reencrypt) await this.guard.checkRestore(trx, path, options.from ?? path);
      const m = await trx.selectFrom('manifests').select(['chunks']).where('hash', '=', content.manifest).executeTakeFirst();
      if (!m) throw new NotFoundError(`the content ${content.manifest} is no longer stored`);
      await this.guard.checkWrites(trx, [{ path, type: 'file', manifest: content.manifest }]);
      const [entry] = await this.putFiles(trx, [{ path, hash: content.manifest, size: content.size, chunks: decodeChunkList(m.chunks), mtime: content.mtime, mode: content.mode, expiresAt: null }], { noOverwrite: options.noOverwrite ?? false, now: this.now() });
      return entry;
    }));
  }

  /**
   * Commits a session in one transaction: every file becomes visible at once, or none does.
   * Verifies each manifest (sizes add up, tree hash matches the client's claim) and that
   * every chunk is stored.
   */
  async commitUpload(id: string, final: CommitFinal = {}, options: CommitOptions = {}): Promise<Entry[]> {
    const now = this.now();
    return this.guarded(() => this.durable(async (trx) => {
      // PostgreSQL: the session's row is locked first, so two commits of one session (a
      // client's retry through another node while the first still runs) go one after the
      // other and the second finds it gone. Both read it unlocked and both committed: the file
      // twice (two versions, two events; a drop box's "name (1)" beside "name"). SQLite
      // serializes writers anyway.
      if (this.meta.dialect !== 'sqlite') await trx.selectFrom('uploads').select('id').where('id', '=', id).forUpdate().execute();
      const up = await this.queries.upload.first(trx, id);
      if (!up || Number(up.expires_at) <= now) throw new UploadNotFoundError(`upload ${id} not found (unknown, committed, aborted or expired)`, { details: { id } });
      if (options.append && options.append.chunks.length > 0) await this.meta.uploads.appendEntriesIn(trx, id, options.append);
      const missing = await this.meta.uploads.missingChunks(id, trx);
      if (missing.length > 0) {
        throw new UploadIncompleteError(`upload ${id} still lacks ${missing.length} chunk(s)`, { details: { missing: missing.slice(0, 1000), count: missing.length } });
      }
      // Sizes, quotas and Content-Length are computed from the manifest: every size in it
      // must be the size of the verified bytes (a chunk's index row holds what arrived).
      const lie = await this.queries.sizeLie.first(trx, id);
      if (lie) {
        throw new SizeMismatchError(`chunk ${lie.hash} has ${Number(lie.actual)} bytes, the manifest says ${Number(lie.declared)}`, {
          details: { hash: lie.hash, declared: Number(lie.declared), actual: Number(lie.actual) },
        });
      }
      const files = (await this.queries.files.execute(trx, id)).rows;
      // A drop box's visitor must not learn what the folder holds: a name taken there (a
      // file, a folder, a look-alike) is not refused but stored as "name (1).ext".
      if (up.kind === 'visitor' || up.kind === 'visitor-stream') {
        // The owner's row lock first (as a quota check takes it, so in the same order): on
        // PostgreSQL two visitors' commits then pick names one after the other, never both
        // the same free one (SQLite serializes writers anyway).
        if (up.owner !== null) await trx.updateTable('users').set({ disabled: sql<number>`disabled` }).where('id', '=', up.owner).execute();
        const chosen = new Set<string>();
        for (const f of files) f.path = await this.freePath(trx, f.path, chosen);
      }
      if (files.length > 1 && (final.size !== undefined || final.hash !== undefined)) {
        throw new ValidationError('final size/hash at commit apply to single-file uploads only');
      }
      const verified: { f: (typeof files)[number]; entries: ChunkRef[]; hash: string; size: number }[] = [];
      const byFile = new Map<number, ChunkRef[]>();
      const all = (await this.queries.entries.execute(trx, id)).rows;
      for (const e of all) {
        let list = byFile.get(e.file_idx);
        if (!list) byFile.set(e.file_idx, (list = []));
        list.push({ hash: e.hash, size: e.size });
      }
      for (const f of files) {
        const entries = byFile.get(f.idx) ?? [];
        const hasher = new FileHasher();
        for (const e of entries) hasher.add(e.hash, e.size);
        const fileHash = hasher.digest();
        const size = f.size ?? final.size;
        const claimed = f.hash ?? final.hash;
        if (size !== undefined && size !== null && Number(size) !== hasher.size) {
          throw new SizeMismatchError(`${f.path}: manifest chunks add up to ${hasher.size} bytes, not ${size}`, { details: { path: f.path } });
        }
        if (claimed !== undefined && claimed !== null && claimed !== fileHash) {
          throw new HashMismatchError(`${f.path}: manifest hash is ${fileHash}, not ${claimed}`, { details: { path: f.path } });
        }
        verified.push({ f, entries, hash: fileHash, size: hasher.size });
      }
      await this.guard.checkWrites(trx, verified.map((v) => ({ path: v.f.path, type: 'file' as const, manifest: v.hash, chunks: v.entries })));
      await options.check?.(trx as Transaction<Database>, verified.map((v) => ({ path: v.f.path, size: v.size })), up.owner);
      const out = await this.putFiles(
        trx,
        verified.map(({ f, entries, hash, size }) => ({
          path: f.path,
          hash,
          size,
          chunks: entries,
          mtime: f.mtime !== null ? Number(f.mtime) : (final.mtime ?? now),
          mode: f.mode ?? final.mode ?? null,
          expiresAt: f.ttl_ms === null ? null : now + Number(f.ttl_ms),
        })),
        { noOverwrite: up.no_overwrite === 1, now, ...(options.expect ? { expect: options.expect } : {}) },
      );
      await this.queries.dropEntries.execute(trx, id);
      await this.queries.dropFiles.execute(trx, id);
      await this.queries.dropUpload.execute(trx, id);
      if (up.kind === 'visitor' || up.kind === 'scoped') await dropSessionProofs(trx, id, up.kind === 'scoped' && up.owner !== null ? up.owner : undefined);
      return out;
    }));
  }

  /**
   * Points each path at its manifest (created or shared), replacing previous files there, as
   * a handful of set operations whatever the number of files: parents created together,
   * existing files and manifests looked up 400 at a time, new manifests and file rows
   * inserted many to a statement, reference counts adjusted in groups. New references are
   * added before old ones are dropped, so content re-put over itself is never released.
   */
  private async putFiles(
    trx: Db,
    files: readonly { path: string; hash: string; size: number; chunks: ChunkRef[]; mtime: number; mode: number | null; expiresAt: number | null }[],
    o: { noOverwrite: boolean; now: number; expect?: CommitOptions['expect'] },
  ): Promise<Entry[]> {
    await this.ensureDirsOf(trx, new Set(files.map((f) => parentPath(f.path))), o.now, new Set());
    await this.lockNames(trx, files.map((f) => f.path));

    const old = new Map<string, FilesTable>();
    for (const part of batches(files.map((f) => f.path))) {
      const rows = await trx.selectFrom('files').selectAll().where('path', 'in', part).execute();
      for (const r of rows) old.set(r.path, r);
    }
    for (const f of files) {
      const prev = old.get(f.path);
      if (prev?.type === 'dir') throw new IsADirectoryError(`${f.path}: a directory exists there`, { details: { path: f.path } });
      if (prev && o.noOverwrite) throw new AlreadyExistsError(`${f.path}: already exists`, { details: { path: f.path } });
      // An expired file is gone for readers (stat): a condition sees nothing there either.
      if (o.expect) await o.expect(f.path, prev && (prev.expires_at === null || Number(prev.expires_at) > o.now) ? toEntry(prev) : undefined);
    }
    await this.refuseLookAlikes(trx, files.filter((f) => !old.has(f.path)).map((f) => f.path));

    // Manifests: shared ones gain references, new ones are stored and reference their chunks.
    const uses = new Map<string, number>();
    const content = new Map<string, (typeof files)[number]>();
    for (const f of files) {
      uses.set(f.hash, (uses.get(f.hash) ?? 0) + 1);
      content.set(f.hash, f);
    }
    const existing = new Set<string>();
    for (const part of batches([...uses.keys()])) {
      const rows = await trx.selectFrom('manifests').select('hash').where('hash', 'in', part).execute();
      for (const r of rows) existing.add(r.hash);
    }
    await this.addManifestRefs(trx, new Map([...uses].filter(([h]) => existing.has(h))), 1);
    const fresh = [...uses].filter(([h]) => !existing.has(h));
    const manifestRows = fresh.map(([h, n]) => {
      const f = content.get(h)!;
      return { hash: h, size: f.size, chunk_count: f.chunks.length, chunks: encodeChunkList(f.chunks), refs: n, created_at: o.now };
    });
    await this.inserts.manifests.execute(trx, manifestRows);
    const chunkUses = new Map<string, number>();
    for (const [h] of fresh) for (const c of distinctHashes(content.get(h)!.chunks)) chunkUses.set(c, (chunkUses.get(c) ?? 0) + 1);
    for (const [n, hashes] of groupByCount(chunkUses)) await this.chunkIndex.addRefs(trx, hashes, n);

    // File rows: 60 files to an upsert; created_at of replaced files is kept.
    const rows: FilesTable[] = files.map((f) => ({ path: f.path, parent: parentPath(f.path), name: baseName(f.path), name_fold: nameFold(baseName(f.path)), type: 'file', size: f.size, mtime: f.mtime, mode: f.mode, manifest: f.hash, created_at: o.now, updated_at: o.now, expires_at: f.expiresAt }));
    await this.inserts.upsertFiles.execute(trx, rows);

    const released = new Map<string, number>();
    for (const prev of old.values()) if (prev.manifest) released.set(prev.manifest, (released.get(prev.manifest) ?? 0) + 1);
    if (this.retention && released.size > 0) {
      // Content put over itself is not a new version.
      const incoming = new Map(files.map((f) => [f.path, f.hash]));
      const replaced = [...old.values()].filter((p) => p.manifest && p.manifest !== incoming.get(p.path));
      await this.retention.departing(trx as Transaction<Database>, replaced.map(departingOf), 'overwrite', o.now);
    }
    if (released.size > 0) await this.derefManifests(trx, released);
    return rows.map(toEntry);
  }

  /**
   * Deletes up to `limit` files whose TTL has passed; returns their paths. Each delete is its
   * own transaction and re-checks the expiry, so a file replaced since it was selected (the
   * new content carries its own TTL or none) is left alone. Their chunks go with the next GC.
   */
  async removeExpired(limit = 1000): Promise<string[]> {
    const now = this.now();
    const rows = await this.db.selectFrom('files').select('path').where('type', '=', 'file').where('expires_at', '<=', now).orderBy('expires_at').limit(limit).execute();
    const removed: string[] = [];
    for (const { path } of rows) {
      const gone = await this.durable(async (trx) => {
        const row = await trx.selectFrom('files').select(['manifest', 'expires_at']).where('path', '=', path).where('type', '=', 'file').executeTakeFirst();
        if (!row || row.expires_at === null || Number(row.expires_at) > now) return false;
        await trx.deleteFrom('files').where('path', '=', path).execute();
        if (row.manifest) await this.derefManifests(trx, new Map([[row.manifest, 1]]));
        await davRowsRemoved(trx, path);
        return true;
      });
      if (gone) removed.push(path);
    }
    return removed;
  }

  /**
   * Logical usage of a subtree (a user's home): the sizes of its files as the user sees
   * them, however many of their chunks are shared with other files, and the bytes of
   * its WebDAV dead properties (stored apart, per file). Expired files that wait for the
   * sweeper still count (their bytes are still stored).
   */
  async usage(root: string, db: Db = this.db): Promise<Usage> {
    let q = db.selectFrom('files').select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(size), 0)`.as('bytes')]).where('type', '=', 'file');
    if (root !== '/') q = q.where('path', '>', subtreeStart(root)).where('path', '<', subtreeEnd(root));
    const row = await q.executeTakeFirstOrThrow();
    return { bytes: Number(row.bytes) + (await deadPropBytes(db, root)), files: Number(row.n) };
  }

  /** Sizes of the files at these paths now (absent paths are left out): what a commit replaces. */
  async fileSizes(paths: readonly string[], db: Db = this.db): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const part of batches([...new Set(paths)])) {
      const rows = await db.selectFrom('files').select(['path', 'size']).where('type', '=', 'file').where('path', 'in', part).execute();
      for (const r of rows) out.set(r.path, Number(r.size));
    }
    return out;
  }
}

function departingOf(r: { path: string; manifest: string | null; size: number; mtime: number; mode: number | null; updated_at: number }): DepartingFile {
  return { path: r.path, manifest: r.manifest!, size: Number(r.size), mtime: Number(r.mtime), mode: r.mode, since: Number(r.updated_at) };
}

/** Keys grouped by their count: {n -> keys with count n}. Lets one statement add n to many rows. */
function groupByCount(counts: Map<string, number>): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const [key, n] of counts) {
    let list = out.get(n);
    if (!list) out.set(n, (list = []));
    list.push(key);
  }
  return out;
}
