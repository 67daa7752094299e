/**
 * The metadata store over Kysely (SQLite embedded; PostgreSQL when several nodes share one
 * database): opening either engine, migrations, durable transactions, settings, and the
 * facade the server's routes call. The work is done by stores with one job each (the
 * contract is docs/metadata.md, its tests test/conformance/meta-store.ts):
 * - ./namespace.ts: paths, directories, manifests, the commit;
 * - ./chunk-index.ts: where chunks are, who proved they hold them, garbage collection;
 * - ./upload-sessions.ts: what clients declared, what is missing, reservations, expiry;
 * - ./leases.ts: work one node at a time does;
 * - ./auth-store.ts: users, grants, tokens, web sessions (the server holds it beside this).
 */
import { existsSync } from 'node:fs';
import { chmod, open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CompiledQuery, Kysely, Migrator, PostgresDialect, sql, type MigrationResult, type Transaction } from 'kysely';
import { ConfigError, UnsupportedError } from '../core/errors.js';
import type { ChunkRef } from '../core/manifest.js';
import { normalizePath } from '../core/path.js';
import type { AdminUpload, Entry, UploadFileSpec } from '../core/protocol.js';
import type { Database } from './meta-schema.js';
import { migrationNameOrder, migrationNames, migrationProvider, migrationState, type Dialect } from './migrations.js';
import { builtSchemaScript, createFromScript, isNewDatabase } from './sqlite-schema-script.js';
import { retryConflicts } from './retry-conflicts.js';
import { ChunkIndex, type ChunkLocation, type GcVictims } from './chunk-index.js';
import type { ChunkReader } from './vault-guard.js';
import { Namespace, type MoveOptions, type Placed, type RemoveOptions, type CommitFinal, type CommitOptions, type FileContent, type ListOptions, type RetentionHook, type Usage } from './namespace.js';
import { UploadSessions, type AppendCheck, type NewUpload, type PartialUpload, type SessionBudget, type UploadInfo } from './upload-sessions.js';
import { Leases } from './leases.js';
import { unavailableAware } from './pg-pool.js';
import { SharedClock } from './shared-clock.js';
import { StatementCache } from './statement-cache.js';
import { SqliteDialectKeepingErrors } from './sqlite-dialect.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Connections per node to PostgreSQL unless `--db-pool` says otherwise. */
export const DEFAULT_POOL_SIZE = 10;


/**
 * Makes an SQLite database file (and its -wal and -shm files, which SQLite creates with the
 * database file's mode) readable by the server's user only, whatever the umask and the data
 * directory's mode: it holds password and token hashes, webhook secrets and every file name.
 * A directory made by hand (`mkdir /srv/ferry`, mode 0755) left it readable by every local
 * user before. An existing file is narrowed too.
 */
async function ownerOnly(file: string): Promise<void> {
  if (file === ':memory:' || file === '') return;
  await (await open(file, 'a', 0o600)).close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    await chmod(f, 0o600).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    });
  }
}
/** Whether a `--db` value names a PostgreSQL server (else it is an SQLite file). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}


export { toLocation, type ChunkLocation, type GcVictims } from './chunk-index.js';
export { commonAncestor, distinctHashes, sessionProver, type AppendCheck, type NewUpload, type SelfProvingKind, type PartialUpload, type UploadInfo } from './upload-sessions.js';
export { nameFold, type MoveOptions, type RemoveOptions, type CommitCandidate, type CommitFinal, type CommitOptions, type DepartingFile, type FileContent, type ListOptions, type RetentionHook, type Usage } from './namespace.js';

const DATA_VERSION = CompiledQuery.raw('PRAGMA data_version');

/** WAL pages after which a commit checkpoints the SQLite database (see openSqlite). */
export const WAL_AUTOCHECKPOINT_PAGES = 4000;
/** SQLite's page cache, KiB (`PRAGMA cache_size` = minus this). */
export const SQLITE_CACHE_KIB = 4000;


const ranMigrations = (results: readonly MigrationResult[] | undefined): string[] => (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);

export class MetaStore {
  /** Durable transactions finished in this process (see {@link securityEpoch}). */
  private durableTransactions = 0;
  /** Versions and the trash (see {@link setRetention}). */
  retention?: RetentionHook;
  /** See {@link setAdmission}. */
  admission?: () => void;
  /** The migrations the open ran, in order (none when the schema was up to date): the server logs them. */
  migrationsRun: readonly string[] = [];
  /** The chunk index, its reference counts and garbage collection. */
  readonly chunkIndex: ChunkIndex;
  /** Work that one node at a time does (garbage collection, sweeps). */
  readonly leases: Leases;
  /** Times compared across nodes (chunk grace, writes in progress): the database's on PostgreSQL (see ./shared-clock.ts). */
  private clock: SharedClock;
  /** Upload sessions: what a client declared, what is still missing, reservations, expiry. */
  readonly uploads: UploadSessions;
  /** Paths, directories, manifests and the commit. */
  readonly namespace: Namespace;

  private constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    readonly now: () => number,
    /** SQLite opened by {@link openSqlite}: its prepared statements (and how many queries ran). */
    readonly statements?: StatementCache,
    /** The better-sqlite3 handle, for SQLite's online backup API (`ferry admin backup`) and {@link releaseMemory}. */
    private readonly sqlite?: { backup(destination: string): Promise<unknown>; pragma(source: string): unknown },
    /** Lease times from the database's clock (PostgreSQL) or from `now` (see src/store/leases.ts); on PostgreSQL openPostgres sets {@link sharedNow}'s clock the same way. */
    leaseClock: 'database' | 'node' = dialect === 'postgres' ? 'database' : 'node',
  ) {
    this.chunkIndex = new ChunkIndex(this);
    this.leases = new Leases(db, leaseClock === 'database' && dialect === 'postgres' ? 'database' : now);
    this.clock = SharedClock.local(now);
    this.uploads = new UploadSessions(this);
    this.namespace = new Namespace(this);
  }

  /**
   * Writes a consistent copy of the SQLite database to `file` while the server runs (SQLite's
   * online backup API: pages are copied in steps, and writes made meanwhile through this
   * connection are carried into the copy). PostgreSQL: unsupported, use pg_dump.
   */
  async backupTo(file: string): Promise<void> {
    if (!this.sqlite) throw new UnsupportedError('this metadata store is not SQLite: back it up with pg_dump (README, "Backup and check")');
    await this.sqlite.backup(file);
  }

  /**
   * Hands the memory of SQLite's page cache back to the allocator (`PRAGMA shrink_memory`;
   * up to {@link SQLITE_CACHE_KIB} KiB). The server calls it when it idles after
   * traffic, before glibc's trim; the pages come back from the database file (in the OS's
   * page cache) as queries need them. Nothing to do on PostgreSQL.
   */
  releaseMemory(): void {
    this.sqlite?.pragma('shrink_memory');
  }

  /** Opens (creating if needed) an SQLite database file and brings its schema up to date. */
  static async openSqlite(file: string, options: { now?: () => number } = {}): Promise<MetaStore> {
    const { default: SqliteDatabase } = await import('better-sqlite3');
    await ownerOnly(file);
    const nativeBinding = sqliteAddon();
    const sqlite = new SqliteDatabase(file, nativeBinding === undefined ? {} : { nativeBinding });
    // WAL: readers never wait for the writer. NORMAL: a commit does not fsync the WAL, which
    // matters because better-sqlite3 runs on the event loop: an fsync per chunk PUT stalled
    // the whole server. Transactions whose acknowledgement promises durability run through
    // `durable()`, which fsyncs (and so also makes every earlier WAL frame durable).
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    sqlite.pragma('busy_timeout = 5000');
    // Temporary data (statement journals above all: every multi-row insert inside a larger
    // transaction keeps the pages it changes, to undo that one statement) in memory, not in
    // temporary files: a first sync of 10,000 small files wrote 230 MB to such files beside
    // 74 MB of WAL for an 11 MB database, about half the server's system CPU for its
    // metadata (benchmarks/results/issue-15-speed.md, branch smallsql). It holds what one
    // statement touches or one query sorts, and nothing of it is needed after a crash.
    sqlite.pragma('temp_store = MEMORY');
    // A page cache of 4,000 KiB, not better-sqlite3's 16,000: pages it drops come back from the
    // OS's page cache. 200 clients uploading 4 MiB each after a sync of 10,000 small files (a
    // database of ~11 MB) peaked the server at 182-195 MB instead of 200-210, with the sync's
    // server CPU unchanged (benchmarks/results/issue-15-speed.md, branch w6peak).
    sqlite.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
    // A checkpoint when the WAL passes 4,000 pages (16 MiB), not SQLite's 1,000: a checkpoint
    // writes each page changed since the last one once, and the indexes keyed by random
    // SHA-256 hashes have most of their pages changed by every upload's transactions. A
    // first sync of 30,000 small files wrote 469 MB of metadata with 1,000 pages, 374 MB
    // with 4,000, and spent 17% less time in commits; the longest commit (the one that
    // checkpoints) took 33 ms instead of 18–25 (benchmarks/results/issue-15-speed.md,
    // branch smallmeta). Nothing changes for a crash: the WAL is the durable copy either way.
    sqlite.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
    // Kysely's dialect prepares every query afresh; the cache reuses statements by SQL text.
    const statements = new StatementCache(sqlite);
    const db = new Kysely<Database>({ dialect: new SqliteDialectKeepingErrors({ database: statements }, sqlite) });
    const now = options.now ?? Date.now;
    const store = new MetaStore(db, 'sqlite', now, statements, sqlite);
    // A new database: the build's script of the schema, when it fits (./sqlite-schema-script.ts).
    const made = isNewDatabase(sqlite) ? createFromScript(sqlite, await builtSchemaScript(), migrationNames('sqlite'), now()) : undefined;
    if (made !== undefined) store.migrationsRun = made;
    else await store.migrate();
    return store;
  }

  /**
   * Connects to PostgreSQL (`postgres://user:password@host:port/database`) with a pool of at
   * most `poolSize` connections and brings the schema up to date. Any number of nodes may
   * start at once: Kysely's migrator holds an advisory lock (`pg_advisory_lock`) on one
   * connection around the whole run, which is one transaction (PostgreSQL has transactional
   * DDL); each migration runs exactly once, the other nodes wait, then find nothing to do.
   */
  static async openPostgres(url: string, options: { now?: () => number; poolSize?: number; leaseClock?: 'database' | 'node'; queryTimeoutMs?: number } = {}): Promise<MetaStore> {
    const { default: pg } = await import('pg');
    // int8 (bigint columns, count(*)) and numeric (sum of bigints) arrive as strings by
    // default; every value Ferry keeps fits a double (sizes, milliseconds), and the SQLite
    // side hands out numbers: parse them so both dialects return the same types.
    const types = {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === 20 || oid === 1700 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    };
    // TCP keepalive: a connection whose far end vanished (a host gone, a failover behind an
    // address) is found dead by the kernel instead of waiting for the retransmissions' end.
    const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? DEFAULT_POOL_SIZE, types, connectionTimeoutMillis: 10_000, keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
    // An idle connection the server dropped (a restart, a failover) must not crash the process.
    pool.on('error', () => undefined);
    // Queries are limited once the schema is up to date: a migration may rightly take long.
    let queryTimeoutMs = 0;
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: unavailableAware(pool, () => queryTimeoutMs) }) });
    // Every time this store writes or compares (expiry of upload sessions, tokens, web
    // sessions, share links, files' TTL; `created_at`s) is the database's clock, as
    // sharedNow() is: another node compares it with its own now. With each node's clock, a
    // token or a share link given for an hour by one node was expired on a node more than an
    // hour ahead, and lived that much longer on one behind (test/deploy/cluster-clocks.test.ts).
    // Until the database's time is read (the migrations), the node's. A `now` given (tests)
    // is taken as the shared clock.
    let shared: SharedClock | undefined;
    const leaseClock = options.leaseClock ?? 'database';
    const now = options.now ?? (leaseClock === 'database' ? () => shared?.now() ?? Date.now() : Date.now);
    const store = new MetaStore(db, 'postgres', now, undefined, undefined, leaseClock);
    try {
      await store.migrate();
      if (leaseClock === 'database') store.clock = shared = await SharedClock.database(db, options.now);
      queryTimeoutMs = options.queryTimeoutMs ?? 0;
    } catch (err) {
      await db.destroy();
      throw err;
    }
    return store;
  }

  /**
   * Opens the metadata store a `--db` value names: `postgres://…` (or `postgresql://…`), else
   * the SQLite database file at that path.
   */
  static async open(location: string, options: { now?: () => number; poolSize?: number; queryTimeoutMs?: number } = {}): Promise<MetaStore> {
    return isPostgresUrl(location) ? MetaStore.openPostgres(location, options) : MetaStore.openSqlite(location, options);
  }

  /** Wraps an existing Kysely instance (PostgreSQL, tests). Call migrate() before use. */
  static fromKysely(db: Kysely<Database>, dialect: Dialect, options: { now?: () => number } = {}): MetaStore {
    return new MetaStore(db, dialect, options.now ?? Date.now);
  }

  /**
   * Installs a check every new upload session passes first, whatever front makes it (the
   * server refuses new sessions while it drains for a shutdown); it throws to refuse.
   */
  setAdmission(check: (() => void) | undefined): void {
    this.admission = check;
  }

  /**
   * Lets the vault guard read chunks (a marker's JSON, a file's first bytes); the server
   * sets it at start. Without it, no content counts as end-to-end (writes below a vault and
   * new markers are refused).
   */
  setChunkReader(reader: ChunkReader | undefined): void {
    this.namespace.guard.setReader(reader);
  }

  /** Installs the versions-and-trash hook (one per store; the server sets it at start). */
  setRetention(hook: RetentionHook | undefined): void {
    this.retention = hook;
  }

  /**
   * Brings the schema up to date. PostgreSQL: Kysely's migrator runs every pending migration
   * in one transaction. SQLite: Kysely runs each statement on its own (its SQLite adapter
   * claims no transactional DDL, which SQLite has), so a new database's first start made some
   * sixty separate commits; here the whole run is one transaction (SQLite has one connection,
   * and the migrator starts none of its own), and a failed migration leaves nothing half done.
   * A database with every migration done (every start but the first) skips the migrator.
   */
  async migrate(): Promise<void> {
    const state = await migrationState(this.db, this.dialect);
    if (state.done) return;
    // Kysely's migrator would call this "corrupted migrations": it is a rollback to an older build.
    if (state.newer.length > 0) {
      throw new ConfigError(
        `the metadata database was upgraded by a newer version of Ferry (${state.newer.length === 1 ? `its migration ${state.newer[0]} is` : `its migrations ${state.newer.join(', ')} are`} unknown to this one): run that version or a later one, or restore the backup made before the upgrade`,
        { details: { migrations: state.newer } },
      );
    }
    const migrator = new Migrator({ db: this.db, provider: migrationProvider(this.dialect), nameComparator: migrationNameOrder });
    if (this.dialect !== 'sqlite') {
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      this.migrationsRun = ranMigrations(results);
      return;
    }
    await sql`begin immediate`.execute(this.db);
    const { error, results } = await migrator.migrateToLatest().catch((err: unknown) => ({ error: err, results: undefined }));
    await sql.raw(error ? 'rollback' : 'commit').execute(this.db);
    if (error) throw error;
    this.migrationsRun = ranMigrations(results);
  }

  /**
   * Now, in epoch milliseconds, for times that other nodes compare (a chunk's `created_at`, a
   * write's `started_at`, garbage collection's cutoff): on PostgreSQL the database server's
   * clock, so a node whose clock is off does not lose a chunk to another's collection.
   */
  sharedNow(): number {
    return this.clock.now();
  }

  async close(): Promise<void> {
    this.clock.stop();
    await this.db.destroy();
  }

  /**
   * Runs `fn` in a transaction that is on stable storage when it returns (SQLite: FULL
   * synchronous for this one commit): namespace changes, commits, garbage-collection
   * deletions (objects are deleted after their rows), users, grants, tokens and sessions
   * (a revocation must not come undone; the token cache of `Authenticator` also relies on
   * every such write passing here). Everything else (chunk rows, session bookkeeping) may
   * be lost by a power failure without harm: a commit re-checks in its own transaction that
   * every chunk is indexed. On SQLite the connection is held for the whole call, so no other
   * statement runs under FULL or slips out of it.
   *
   * `security: false` promises that `fn` writes no security state (users, grants, tokens,
   * keys, sessions: a file's commit, a move): {@link securityEpoch} then stays as it was.
   * Every file commit changed it, so the caches it guards were emptied by every upload:
   * an SFTP session read its user, key and grants again for each file it wrote.
   */
  async durable<T>(fn: (trx: Transaction<Database>) => Promise<T>, { security = true }: { security?: boolean } = {}): Promise<T> {
    try {
      if (this.dialect !== 'sqlite') return await retryConflicts(() => this.db.transaction().execute(fn));
      return await this.db.connection().execute(async (conn) => {
        await sql`PRAGMA synchronous = FULL`.execute(conn);
        try {
          return await conn.transaction().execute(fn);
        } finally {
          await sql`PRAGMA synchronous = NORMAL`.execute(conn);
        }
      });
    } finally {
      // After the commit (or rollback): see securityEpoch.
      if (security) this.durableTransactions++;
    }
  }

  /**
   * A value that changes whenever users, grants, tokens or web sessions may have changed,
   * for in-memory caches of security state: read it before reading the state, and trust
   * the cached state only while it reads the same. Every write to that state goes through
   * {@link durable} (a revocation must not come undone), which changes it once the
   * transaction is over; on SQLite, `PRAGMA data_version` changes with every commit by
   * another connection to the same file. Undefined where other writers cannot be seen
   * (PostgreSQL: other nodes write too): cache nothing there.
   */
  async securityEpoch(): Promise<string | undefined> {
    if (this.dialect !== 'sqlite') return undefined;
    const local = this.durableTransactions;
    const { rows } = await this.db.executeQuery<{ data_version: number }>(DATA_VERSION as CompiledQuery<{ data_version: number }>);
    return `${local}:${rows[0].data_version}`;
  }

  // ---------------------------------------------------------------- namespace (./namespace.ts)

  stat(path: string, db?: Db): Promise<Entry> {
    return this.namespace.stat(path, db);
  }

  list(path: string, options: ListOptions): Promise<{ entries: Entry[]; next?: string }> {
    return this.namespace.list(path, options);
  }

  forEachInTree(path: string, onRow: Parameters<Namespace['forEachInTree']>[1], pageSize?: number): Promise<void> {
    return this.namespace.forEachInTree(path, onRow, pageSize);
  }

  manifestChunkLists(hashes: readonly string[]): Promise<Map<string, ChunkRef[]>> {
    return this.namespace.manifestChunkLists(hashes);
  }

  statMany(paths: readonly string[]): Promise<Map<string, Entry>> {
    return this.namespace.statMany(paths);
  }

  fileContent(path: string): Promise<FileContent> {
    return this.namespace.fileContent(path);
  }

  changedAt(path: string): Promise<number | undefined> {
    return this.namespace.changedAt(path);
  }

  setAttributes(path: string, attrs: { mtime?: number; mode?: number }): Promise<Entry> {
    return this.namespace.setAttributes(path, attrs);
  }

  mkdir(path: string, options?: { parents?: boolean }): Promise<Entry> {
    return this.namespace.mkdir(path, options);
  }

  setMtime(path: string, mtime: number, db?: Db): Promise<void> {
    return this.namespace.setMtime(path, mtime, db);
  }

  move(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.namespace.move(from, to, options);
  }

  copy(from: string, to: string, options?: MoveOptions): Promise<Entry> {
    return this.namespace.copy(from, to, options);
  }

  /** A move or copy, and whether it replaced something at `to` (see {@link Namespace.place}). */
  place(op: 'move' | 'copy', from: string, to: string, options?: MoveOptions): Promise<Placed> {
    return this.namespace.place(op, from, to, options);
  }

  /** The vault guard's answer to a move or copy, without doing it (see {@link Namespace.checkMoveOrCopy}). */
  checkMoveOrCopy(op: 'move' | 'copy', from: string, to: string, options?: MoveOptions): Promise<void> {
    return this.namespace.checkMoveOrCopy(op, from, to, options);
  }

  remove(path: string, options?: RemoveOptions): Promise<{ files: number; dirs: number }> {
    return this.namespace.remove(path, options);
  }

  releaseManifests(trx: Transaction<Database>, counts: Map<string, number>): Promise<void> {
    return this.namespace.releaseManifests(trx, counts);
  }

  restoreContent(path: string, content: { manifest: string; size: number; mtime: number; mode: number | null }, options?: Parameters<Namespace['restoreContent']>[2]): Promise<Entry> {
    return this.namespace.restoreContent(path, content, options);
  }

  commitUpload(id: string, final?: CommitFinal, options?: CommitOptions): Promise<Entry[]> {
    return this.namespace.commitUpload(id, final, options);
  }

  removeExpired(limit?: number): Promise<string[]> {
    return this.namespace.removeExpired(limit);
  }

  usage(root: string, db?: Db): Promise<Usage> {
    return this.namespace.usage(root, db);
  }

  fileSizes(paths: readonly string[], db?: Db): Promise<Map<string, number>> {
    return this.namespace.fileSizes(paths, db);
  }

  // ---------------------------------------------------------------- chunks (./chunk-index.ts)

  chunkLocation(hash: string): Promise<ChunkLocation | undefined> {
    return this.chunkIndex.chunkLocation(hash);
  }

  presentChunks(hashes: readonly string[]): Promise<Set<string>> {
    return this.chunkIndex.presentChunks(hashes);
  }

  ownedChunks(owner: string, hashes: readonly string[]): Promise<Set<string>> {
    return this.chunkIndex.ownedChunks(owner, hashes);
  }

  disownChunk(hash: string): Promise<void> {
    return this.chunkIndex.disownChunk(hash);
  }

  addChunk(hash: string, size: number, store: string | null = null, owner?: string, storedSize: number | null = null): ReturnType<ChunkIndex['addChunk']> {
    return this.chunkIndex.addChunk(hash, size, store, owner, storedSize);
  }

  addChunks(...args: Parameters<ChunkIndex['addChunks']>): ReturnType<ChunkIndex['addChunks']> {
    return this.chunkIndex.addChunks(...args);
  }

  addPack(id: string, size: number, entries: readonly { hash: string; size: number; offset: number; stored?: number }[], store: string | null = null, owner?: string): ReturnType<ChunkIndex['addPack']> {
    return this.chunkIndex.addPack(id, size, entries, store, owner);
  }

  addPacks(...args: Parameters<ChunkIndex['addPacks']>): ReturnType<ChunkIndex['addPacks']> {
    return this.chunkIndex.addPacks(...args);
  }

  addChunkOwners(owner: string, hashes: readonly string[]): Promise<void> {
    return this.chunkIndex.addChunkOwners(owner, hashes);
  }

  isChunkReferenced(hash: string): Promise<boolean> {
    return this.chunkIndex.isChunkReferenced(hash);
  }

  referencedChunks(hashes: readonly string[]): Promise<Set<string>> {
    return this.chunkIndex.referencedChunks(hashes);
  }

  chunkLocations(hashes: readonly string[]): Promise<Map<string, ChunkLocation>> {
    return this.chunkIndex.chunkLocations(hashes);
  }

  collectGarbage(cutoff: number, limit: number): Promise<GcVictims> {
    return this.chunkIndex.collectGarbage(cutoff, limit);
  }

  // ---------------------------------------------------------------- upload sessions (./upload-sessions.ts)

  createUpload(u: NewUpload, options: { check?: (trx: Transaction<Database>) => Promise<number> } = {}): Promise<UploadInfo> {
    return this.uploads.createUpload(u, options);
  }

  getUpload(id: string, ttlMs?: number): Promise<UploadInfo> {
    return this.uploads.getUpload(id, ttlMs);
  }

  appendEntries(id: string, fileIdx: number, chunks: readonly ChunkRef[], ttlMs: number, options?: { check?: AppendCheck }): Promise<string[]> {
    return this.uploads.appendEntries(id, fileIdx, chunks, ttlMs, options);
  }

  uploadFileInfo(id: string, fileIdx: number): Promise<{ path: string; sealed: boolean } | undefined> {
    return this.uploads.uploadFileInfo(id, fileIdx);
  }

  uploadEntryCounts(id: string): Promise<number[]> {
    return this.uploads.entryCounts(id);
  }

  uploadEntries(id: string, fileIdx: number): Promise<ChunkRef[]> {
    return this.uploads.uploadEntries(id, fileIdx);
  }

  uploadFileBytes(id: string, fileIdx: number): Promise<number> {
    return this.uploads.uploadFileBytes(id, fileIdx);
  }

  findPartial(owner: string, path: string): Promise<PartialUpload | undefined> {
    return this.uploads.findPartial(owner, path);
  }

  dropPartials(owner: string, path: string, options?: { before?: number; except?: string }): Promise<number> {
    return this.uploads.dropPartials(owner, path, options);
  }

  reservedBytes(owner: string, except?: string, db: Db = this.db): Promise<number> {
    return this.uploads.reservedBytes(owner, except, db);
  }

  setReservation(id: string, bytes: number, db: Db = this.db): Promise<void> {
    return this.uploads.setReservation(id, bytes, db);
  }

  pendingEntries(owner: string, db: Db, budget: SessionBudget, except?: string): Promise<number> {
    return this.uploads.pendingEntries(owner, db, budget, except);
  }

  countUploads(owner: string, db: Db = this.db, budget: SessionBudget = 'own', except?: string): Promise<number> {
    return this.uploads.countUploads(owner, db, budget, except);
  }

  abortVisitorUploads(owner: string, folder: string): Promise<number> {
    return this.uploads.abortVisitorUploads(owner, folder);
  }

  missingChunks(id: string, db: Db = this.db): Promise<string[]> {
    return this.uploads.missingChunks(id, db);
  }

  uploadOwner(id: string): Promise<{ owner: string | null; scope: string | null; expiresAt: number; selfProving: boolean }> {
    return this.uploads.uploadOwner(id);
  }

  chunkPutContext(id: string, hash: string): Promise<{ owner: string | null; scope: string | null; selfProving: boolean; path: string | undefined; declared: number | undefined; expiresAt: number }> {
    return this.uploads.chunkPutContext(id, hash);
  }

  extendUpload(id: string, expiresAt: number, ttlMs: number): Promise<void> {
    return this.uploads.extendUpload(id, expiresAt, ttlMs);
  }

  chunksNotInUpload(id: string, chunks: readonly ChunkRef[]): Promise<{ strangers: string[]; mismatched: { hash: string; size: number; declared: number }[] }> {
    return this.uploads.chunksNotInUpload(id, chunks);
  }

  uploadFirstPath(id: string): Promise<string | undefined> {
    return this.uploads.uploadFirstPath(id);
  }

  abortUpload(id: string): Promise<void> {
    return this.uploads.abortUpload(id);
  }

  /** See UploadSessions.listUploads (`GET /api/v1/admin/uploads`). */
  listUploads(options: { ownerId?: string; limit: number }): Promise<AdminUpload[]> {
    return this.uploads.listUploads(options);
  }

  expireUploads(): Promise<number> {
    return this.uploads.expireUploads();
  }

  // ---------------------------------------------------------------- settings

  async getSetting(key: string): Promise<string | undefined> {
    const row = await this.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst();
    return row?.value;
  }

  async setSetting(key: string, value: string): Promise<void> {
    await this.durable((trx) => trx
      .insertInto('settings')
      .values({ key, value })
      .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
      .execute());
  }

  /** Counts for /metrics and `ferry admin` (cheap aggregate queries). */
  async stats(): Promise<{ files: number; logicalBytes: number; chunks: number; storedBytes: number; encodedBytes: number; uploads: number }> {
    const f = await this.db.selectFrom('files').select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(size), 0)`.as('bytes')]).where('type', '=', 'file').executeTakeFirstOrThrow();
    // storedBytes: the chunks' plain bytes (after dedup); encodedBytes: what their objects
    // take (after compression; chunks stored before the format count with their size).
    const c = await this.db
      .selectFrom('chunks')
      .select([sql<number>`count(*)`.as('n'), sql<number>`coalesce(sum(size), 0)`.as('bytes'), sql<number>`coalesce(sum(coalesce(stored_size, size)), 0)`.as('encoded')])
      .executeTakeFirstOrThrow();
    const u = await this.db.selectFrom('uploads').select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
    return { files: Number(f.n), logicalBytes: Number(f.bytes), chunks: Number(c.n), storedBytes: Number(c.bytes), encodedBytes: Number(c.encoded), uploads: Number(u.n) };
  }
}

/** Validates and normalizes a file spec's path (the server edge also validates). */
export function normalizeSpecPath(spec: UploadFileSpec): UploadFileSpec {
  return { ...spec, path: normalizePath(spec.path) };
}

/**
 * better-sqlite3's compiled addon, by its path: left to find it, better-sqlite3 asks the
 * `bindings` package, which reads a stack trace to find the package's directory and probes a
 * dozen candidate paths (~5 ms of every server start). Its install (prebuild-install or
 * node-gyp) puts it in build/Release; when it is not there, undefined: the default search.
 */
export function sqliteAddon(): string | undefined {
  try {
    const file = join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
    return existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

