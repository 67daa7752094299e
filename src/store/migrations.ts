/**
 * Schema migrations, in code (no migration files to ship). Each migration runs once, in
 * order, inside Kysely's Migrator, on SQLite and PostgreSQL alike.
 */
import { DEFAULT_MIGRATION_TABLE, sql, type Kysely, type Migration, type MigrationProvider, type RawBuilder } from 'kysely';
import { hasInvisibleCharacters, lookAlikeForm } from '../core/path.js';

export type Dialect = 'sqlite' | 'postgres';

/** The dialect, and column types that differ between SQLite and PostgreSQL. */
interface ColumnTypes {
  dialect: Dialect;
  blob: string;
  pathType: RawBuilder<unknown>;
}

function columnTypes(dialect: Dialect): ColumnTypes {
  return {
    dialect,
    blob: dialect === 'postgres' ? 'bytea' : 'blob',
    // Paths sort in byte order everywhere (range scans over subtrees depend on it).
    pathType: dialect === 'postgres' ? sql`text collate "C"` : sql`text`,
  };
}

async function noDowngrade(): Promise<void> {
  throw new Error('downgrades are not supported');
}

/** A migration that only goes forward. */
function forward(up: (db: Kysely<any>) => Promise<unknown>): Migration {
  return { up: async (db) => void (await up(db)), down: noDowngrade };
}

// Long migrations (0001, 0002, 0006, 0007, 0011, 0012, 0021, 0022, 0025) have their bodies in functions of their own
// (below), so that this list stays readable and no function is over ~120 lines.
function migrations(dialect: Dialect): Record<string, Migration> {
  const types = columnTypes(dialect);
  return {
    '0001-initial': forward((db) => initialSchema(db, types)),
    '0002-security': forward((db) => securitySchema(db, types)),
    // Which chunk store (a `--store` route, named by its path prefix; NULL: the default one)
    // holds each loose chunk and pack. Numbered after 0002 (security) so both orders merge.
    '0003-chunk-stores': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema.alterTable('chunks').addColumn('store', 'text').execute();
        await db.schema.alterTable('packs').addColumn('store', 'text').execute();
      },
      down: noDowngrade,
    },
    // Every chunk PUT finds its hash among the session's manifest entries (the first file
    // that has it). With only the primary key (upload_id, file_idx, seq) that walked the
    // session's entries: a 1 GiB upload's 813 PUTs read some 330,000 rows, a 10 GiB one's
    // a hundred times that. This index answers it in one seek, already in file order.
    '0004-upload-entries-by-hash': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema.createIndex('upload_entries_upload_hash').on('upload_entries').columns(['upload_id', 'hash', 'file_idx']).execute();
      },
      down: noDowngrade,
    },
    // The bytes a live session may still add to its owner's usage: quota checks count every
    // session in flight, not only the one at hand (issue 10: sessions without sizes, or many
    // at once, stored far past a quota before their commits failed).
    '0005-upload-reservations': {
      async up(db: Kysely<any>): Promise<void> {
        await db.schema.alterTable('uploads').addColumn('reserved_bytes', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      },
      down: noDowngrade,
    },
    // Look-alike names (`café` composed and decomposed, NFC and NFD) are refused; each
    // non-ASCII name's NFC form is kept to find them in one index seek. Names that already
    // coexist are left as they are (the rule applies to names made from now on).
    '0006-files-name-fold': forward((db) => nameFoldSchema(db)),
    // WebDAV dead properties and locks, and tus uploads (issue 14).
    '0007-webdav-tus': forward((db) => davTusSchema(db, types)),
    // Numbered from 0010 so that migrations other branches add in between merge in order.
    // Audit entries of file operations name the file and the way in (`ferry admin audit --path`).
    '0010-audit-files': forward((db) => auditFilesSchema(db, types)),
    // Webhooks and their durable delivery queue (src/store/webhook-store.ts).
    '0011-webhooks': forward((db) => webhookSchema(db, types)),
    // Old versions and the trash (src/store/version-store.ts): each row holds one reference
    // on its manifest, so its chunks stay (and GC leaves them) as long as the row does.
    '0012-versions-trash': forward((db) => versionSchema(db, types)),
    // Chunks `ferry admin check` found corrupt or missing, until verified bytes replace them
    // (src/store/quarantine-store.ts).
    '0013-chunk-quarantine': forward((db) => quarantineSchema(db)),
    // The SFTP front: users' SSH public keys (only public keys: nothing here logs anyone in
    // by itself), and resumable partial uploads. A streamed upload that may be resumed
    // (SFTP's `reput`) is an upload session of kind 'partial': its entries are chunks already
    // stored, so what arrived before a client (or the server) died survives it, invisible
    // to readers, until it is resumed, replaced or expires. Its owner finds it by path.
    '0014-sftp': forward((db) => sftpSchema(db)),
    // Issue 15: chunk objects carry a header and may be zstd-compressed (src/store/chunk-codec.ts).
    // `stored_size` is the bytes of a chunk's object (loose) or pack entry, header included;
    // NULL for rows written before: their objects are the plain bytes, `size` long. Named
    // 0020 so that migrations other branches add below it merge in order.
    '0020-chunk-stored-size': forward((db) => db.schema.alterTable('chunks').addColumn('stored_size', 'bigint').execute()),
    // Several nodes on one database (issue 17): leases for once-only work, chunk writes in
    // progress on any node (garbage collection leaves their objects alone), shared bans. After 0020:
    // Kysely's migrator refuses a migration that sorts before one already executed.
    '0021-cluster': forward((db) => clusterSchema(db)),
    // A drop box's byte cap (security audit 2026-12-04): what visitors may send through an
    // upload link in all, and what they have sent. Old links get no cap and 0 bytes.
    '0022-share-byte-cap': forward((db) => shareByteCapSchema(db)),
    // An SSH key added with an expiring token expires with it (security audit 2026-12-05).
    // Keys added before never expire, as they were added.
    '0023-ssh-key-expiry': forward((db) => db.schema.alterTable('ssh_keys').addColumn('expires_at', 'bigint').execute()),
    // Which tokens a password login made (POST /api/v1/auth/login, `ferry login`): a password
    // change ends them. Tokens made before cannot be told apart and count as named tokens.
    '0024-token-from-login': forward((db) => db.schema.alterTable('tokens').addColumn('from_login', 'integer', (c) => c.notNull().defaultTo(0)).execute()),
    // Issue 15: fewer index pages written per upload (a first sync of 10,000 small files wrote
    // ~100 MB of metadata beside 333 MB of packs, 30,000 files ~650 MB: every transaction's
    // random SHA-256 keys dirty most leaf pages of each index keyed by them).
    '0025-index-writes': forward((db) => indexWritesSchema(db, types)),
    // What a download link was made for, a file or a folder (security audit, seventh round): a
    // file's link went on to serve a folder made later at its path. Older links: null, unchecked.
    '0026-share-target-type': forward((db) => db.schema.alterTable('shares').addColumn('target_type', 'text').execute()),
    // The files one delete put in the trash (a folder), found by their batch: restoring or
    // listing a batch (`GET /api/v1/trash?batch=B`, restore all of a folder) read the whole
    // trash without it. (batch, id): the listing goes newest first within the batch.
    '0027-trash-batch': forward((db) => db.schema.createIndex('trash_batch').ifNotExists().on('trash').columns(['batch', 'id']).execute()),
    // The defender's failures, scored across the nodes sharing PostgreSQL (cluster, fourth
    // round): counted per node, an address spreading its guesses over N nodes had N times
    // the threshold before a ban. Only adds: nodes of the version before go on without it.
    '0028-defender-failures': forward((db) => defenderFailuresSchema(db)),
    // Look-alike names compared without invisible characters too (`a.txt` and `a\u200b.txt`,
    // security audit 2026-12-06): the look-alike form of names stored before, recomputed.
    '0029-name-fold-invisible': forward((db) => nameFoldInvisibleSchema(db)),
    // Which credential made a link (a token's id, `session:…`, `password:…`): revoking a token
    // revokes the links it made, and `share ls` says what made each. Links made before: null,
    // left as they are (nothing tells what made them). Indexed for the revocation's look-up.
    '0030-share-made-with': forward(async (db) => {
      await db.schema.alterTable('shares').addColumn('made_with', 'text').execute();
      await db.schema.createIndex('shares_made_with').ifNotExists().on('shares').column('made_with').execute();
    }),
  };
}

/** The names of this build's migrations. */
export function migrationNames(dialect: Dialect): string[] {
  return Object.keys(migrations(dialect));
}

export function migrationProvider(dialect: Dialect): MigrationProvider {
  return { getMigrations: async () => migrations(dialect) };
}

/**
 * Orders migrations of one timestamp for Kysely's migrator by their names' code units, the
 * order it gives this list (`Array.prototype.sort`). Its own default, `localeCompare`, would
 * give the same order for these ASCII names, but makes an ICU collator: some 3 MB of ICU
 * code and data in the RSS of every server, for the life of the process.
 */
export function migrationNameOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Which migrations have run: `done` when every migration of this build has (the names in the
 * migrator's table are exactly this list's), so that a start reads that one table, where the
 * migrator takes its lock and reads the schema of every table first. `newer` names those that
 * ran but this build does not know: a newer version migrated the database, and this one must
 * not run on it. Anything else (a new database with no such table, a migration pending) is
 * left to the migrator.
 */
export async function migrationState(db: Kysely<any>, dialect: Dialect): Promise<{ done: boolean; newer: string[] }> {
  const names = Object.keys(migrations(dialect));
  let ran: string[];
  try {
    ran = (await db.selectFrom(DEFAULT_MIGRATION_TABLE).select('name').execute()).map((r: { name: string }) => r.name);
  } catch {
    return { done: false, newer: [] };
  }
  const known = new Set(names);
  const newer = ran.filter((n) => !known.has(n));
  return { done: ran.length === names.length && newer.length === 0, newer };
}

/** 0001: files, manifests, chunks, packs, upload sessions and their entries, settings. */
async function initialSchema(db: Kysely<any>, { pathType, blob }: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('files')
    .addColumn('path', pathType, (c) => c.primaryKey())
    .addColumn('parent', pathType, (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('mtime', 'bigint', (c) => c.notNull())
    .addColumn('mode', 'integer')
    .addColumn('manifest', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .execute();
  await db.schema.createIndex('files_parent').on('files').columns(['parent', 'path']).execute();
  await db.schema.createIndex('files_manifest').on('files').column('manifest').execute();
  await db.schema.createIndex('files_expires').on('files').column('expires_at').execute();

  await db.schema
    .createTable('manifests')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('chunk_count', 'integer', (c) => c.notNull())
    .addColumn('chunks', sql.raw(blob), (c) => c.notNull())
    .addColumn('refs', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('chunks')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('pack', 'text')
    .addColumn('pack_offset', 'bigint')
    .addColumn('refs', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('chunks_unreferenced').on('chunks').columns(['refs', 'created_at']).execute();
  await db.schema.createIndex('chunks_pack').on('chunks').column('pack').execute();

  await db.schema
    .createTable('packs')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('chunk_count', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text')
    .addColumn('no_overwrite', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('uploads_expires').on('uploads').column('expires_at').execute();

  await db.schema
    .createTable('upload_files')
    .addColumn('upload_id', 'text', (c) => c.notNull())
    .addColumn('idx', 'integer', (c) => c.notNull())
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('size', 'bigint')
    .addColumn('hash', 'text')
    .addColumn('mtime', 'bigint')
    .addColumn('mode', 'integer')
    .addColumn('sealed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('entry_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addPrimaryKeyConstraint('upload_files_pk', ['upload_id', 'idx'])
    .execute();

  await db.schema
    .createTable('upload_entries')
    .addColumn('upload_id', 'text', (c) => c.notNull())
    .addColumn('file_idx', 'integer', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('upload_entries_pk', ['upload_id', 'file_idx', 'seq'])
    .execute();
  await db.schema.createIndex('upload_entries_hash').on('upload_entries').column('hash').execute();

  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().unique())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('home', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();

  await db.schema
    .createTable('tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('scopes', 'text', (c) => c.notNull())
    .addColumn('path_prefix', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .execute();
  await db.schema.createIndex('tokens_user').on('tokens').column('user_id').execute();

  await db.schema
    .createTable('settings')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('value', 'text', (c) => c.notNull())
    .execute();
}

/** 0002: users, grants, tokens, share links, the audit log; quotas and scopes. */
async function securitySchema(db: Kysely<any>, { dialect, pathType }: ColumnTypes): Promise<void> {
  // SQLite adds one column per ALTER TABLE.
  for (const [name, type] of [
    ['quota_bytes', 'bigint'],
    ['quota_files', 'bigint'],
    ['max_file_size', 'bigint'],
    ['max_sessions', 'integer'],
    ['ip_allow', 'text'],
    ['ip_deny', 'text'],
  ] as const) {
    await db.schema.alterTable('users').addColumn(name, type).execute();
  }
  await db.schema.alterTable('upload_files').addColumn('ttl_ms', 'bigint').execute();
  await db.schema.alterTable('uploads').addColumn('scope', pathType).execute();
  await db.schema.createIndex('uploads_owner').on('uploads').column('owner').execute();
  // Quota checks sum the sizes under a home: a covering index makes that an index-only
  // range scan (50k files: 29 ms -> 6 ms, benchmarks/quota-usage.ts).
  await db.schema.createIndex('files_usage').on('files').columns(['path', 'type', 'size']).execute();

  await db.schema
    .createTable('grants')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('perms', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('grants_pk', ['user_id', 'path'])
    .execute();

  await db.schema
    .createTable('chunk_owners')
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('chunk_owners_pk', ['user_id', 'hash'])
    .execute();
  await db.schema.createIndex('chunk_owners_hash').on('chunk_owners').column('hash').execute();

  await db.schema
    .createTable('shares')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('key_hash', 'text', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('expires_at', 'bigint')
    .addColumn('max_uses', 'bigint')
    .addColumn('uses', 'bigint', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('shares_user').on('shares').column('user_id').execute();

  await db.schema
    .createTable('web_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('refresh_hash', 'text', (c) => c.notNull())
    .addColumn('prev_refresh_hash', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('refreshed_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('revoked_at', 'bigint')
    .addColumn('ip', 'text')
    .execute();
  await db.schema.createIndex('web_sessions_user').on('web_sessions').column('user_id').execute();

  let audit = db.schema.createTable('audit');
  audit =
    dialect === 'postgres'
      ? audit.addColumn('id', 'bigserial', (c) => c.primaryKey())
      : audit.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  await audit
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('ok', 'integer', (c) => c.notNull())
    .addColumn('user_id', 'text')
    .addColumn('user_name', 'text')
    .addColumn('token_id', 'text')
    .addColumn('ip', 'text')
    .addColumn('target', 'text')
    .addColumn('details', 'text')
    .execute();
  await db.schema.createIndex('audit_at').on('audit').column('at').execute();
  await db.schema.createIndex('audit_user').on('audit').columns(['user_name', 'at']).execute();
}

/** 0007: WebDAV dead properties and locks, tus uploads. */
async function davTusSchema(db: Kysely<any>, { pathType }: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('dav_props')
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('ns', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('value', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('dav_props_pk', ['path', 'ns', 'name'])
    .execute();

  await db.schema
    .createTable('dav_locks')
    .addColumn('token', 'text', (c) => c.primaryKey())
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('infinite', 'integer', (c) => c.notNull())
    .addColumn('owner', 'text')
    .addColumn('timeout_ms', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('dav_locks_path').on('dav_locks').column('path').execute();
  await db.schema.createIndex('dav_locks_user').on('dav_locks').column('user_id').execute();

  await db.schema
    .createTable('tus_uploads')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('path', pathType)
    .addColumn('length', 'bigint')
    .addColumn('metadata', 'text')
    .addColumn('concat', 'text')
    .addColumn('mtime', 'bigint')
    .addColumn('ttl_ms', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('done_at', 'bigint')
    .execute();
  await db.schema.createIndex('tus_uploads_expires').on('tus_uploads').column('expires_at').execute();
}

/** 0011: webhooks and their delivery queue. */
async function webhookSchema(db: Kysely<any>, { dialect, pathType }: ColumnTypes): Promise<void> {
  await db.schema
    .createTable('webhooks')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('events', 'text', (c) => c.notNull())
    .addColumn('secret', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  let t = db.schema.createTable('webhook_deliveries');
  t = dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  await t
    .addColumn('webhook_id', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('order_key', pathType, (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_at', 'bigint', (c) => c.notNull())
    .addColumn('last_status', 'integer')
    .addColumn('last_error', 'text')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('done_at', 'bigint')
    .execute();
  await db.schema.createIndex('webhook_deliveries_pending').on('webhook_deliveries').columns(['status', 'next_at']).execute();
  await db.schema.createIndex('webhook_deliveries_key').on('webhook_deliveries').columns(['webhook_id', 'order_key', 'status', 'id']).execute();
}

/** 0012: old versions and the trash. */
async function versionSchema(db: Kysely<any>, { dialect, pathType }: ColumnTypes): Promise<void> {
  const idCol = (t: ReturnType<Kysely<any>['schema']['createTable']>) =>
    dialect === 'postgres' ? t.addColumn('id', 'bigserial', (c) => c.primaryKey()) : t.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
  await idCol(db.schema.createTable('versions'))
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('mtime', 'bigint', (c) => c.notNull())
    .addColumn('mode', 'integer')
    .addColumn('replaced_at', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('versions_path').on('versions').columns(['path', 'id']).execute();
  await db.schema.createIndex('versions_replaced').on('versions').column('replaced_at').execute();
  await idCol(db.schema.createTable('trash'))
    .addColumn('batch', 'text', (c) => c.notNull())
    .addColumn('path', pathType, (c) => c.notNull())
    .addColumn('manifest', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('mtime', 'bigint', (c) => c.notNull())
    .addColumn('mode', 'integer')
    .addColumn('deleted_at', 'bigint', (c) => c.notNull())
    .addColumn('deleted_by', 'text')
    .execute();
  await db.schema.createIndex('trash_path').on('trash').columns(['path', 'id']).execute();
  await db.schema.createIndex('trash_deleted').on('trash').column('deleted_at').execute();
}

/** 0006: the NFC form of each non-ASCII name, to find look-alike names in one index seek. */
async function nameFoldSchema(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('files').addColumn('name_fold', 'text').execute();
  await db.schema.createIndex('files_name_fold').on('files').columns(['name_fold', 'parent']).execute();
  let after = '';
  for (;;) {
    const rows = (await db.selectFrom('files').select(['path', 'name']).where('path', '>', after).orderBy('path').limit(1000).execute()) as Array<{ path: string; name: string }>;
    if (rows.length === 0) break;
    for (const r of rows) {
      if (/^[\x00-\x7f]*$/.test(r.name)) continue;
      await db.updateTable('files').set({ name_fold: r.name.normalize('NFC') }).where('path', '=', r.path).execute();
    }
    after = rows[rows.length - 1].path;
  }
}

/** 0022: a drop box's byte cap and what it has received. */
async function shareByteCapSchema(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('shares').addColumn('max_bytes', 'bigint').execute();
  await db.schema.alterTable('shares').addColumn('bytes_received', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}

async function sftpSchema(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('ssh_keys')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('bits', 'integer', (c) => c.notNull())
    // The key blob (SSH wire form) in base64: what a client presents is compared with it.
    .addColumn('public_key', 'text', (c) => c.notNull())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('last_used_at', 'bigint')
    .addUniqueConstraint('ssh_keys_user_fingerprint', ['user_id', 'fingerprint'])
    .execute();
  await db.schema.alterTable('uploads').addColumn('kind', 'text').execute();
  await db.schema.createIndex('upload_files_path').on('upload_files').column('path').execute();
}

async function quarantineSchema(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('chunk_quarantine')
    .addColumn('hash', 'text', (c) => c.primaryKey())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('object_key', 'text')
    .addColumn('at', 'bigint', (c) => c.notNull())
    .execute();
}

async function auditFilesSchema(db: Kysely<any>, { pathType }: ColumnTypes): Promise<void> {
  await db.schema.alterTable('audit').addColumn('path', pathType).execute();
  await db.schema.alterTable('audit').addColumn('front', 'text').execute();
  await db.schema.createIndex('audit_path').on('audit').columns(['path', 'id']).execute();
  await db.schema.createIndex('audit_event').on('audit').columns(['event', 'id']).execute();
}

/** 0021: leases for once-only work, chunk writes in progress on any node, the defender's bans shared by the nodes. */
async function clusterSchema(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('leases')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('holder', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('chunk_writes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('hash', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('chunk_writes_hash').on('chunk_writes').column('hash').execute();
  await db.schema
    .createTable('bans')
    .addColumn('ip', 'text', (c) => c.primaryKey())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('until', 'bigint', (c) => c.notNull())
    .execute();
}

/**
 * 0025: indexes that cost writes on every upload and served little.
 * - `files_manifest` goes: only `ferry admin check` looked files up by manifest (now in
 *   batches, as it already did versions and trash); every commit wrote ~1,100 of its pages
 *   (4.5 MB of WAL) for 10,000 files.
 * - `chunk_owners` is keyed (hash, user_id), and indexed by user: the proofs of one user,
 *   appended in rowid order, fill that index at its end, where the (hash) index beside the
 *   (user_id, hash) key was a second B-tree of random keys. SQLite cannot change a table's
 *   key, so the table is rebuilt there.
 * - One index (hash, upload_id, file_idx) on a session's entries answers both the chunk PUT's
 *   look-up within a session and garbage collection's "is any session waiting for it".
 * - `files_name_fold` and `files_expires` hold only rows with a value (non-ASCII names, files
 *   with a TTL): every query of them compares the column, which implies it is not null.
 */
async function indexWritesSchema(db: Kysely<any>, { dialect }: ColumnTypes): Promise<void> {
  // Written to run again over its own result (tests put a database back to an older
  // version by deleting the names of later migrations).
  await db.schema.dropIndex('files_manifest').ifExists().execute();

  if (dialect === 'postgres') {
    await sql`alter table chunk_owners drop constraint chunk_owners_pk`.execute(db);
    await sql`alter table chunk_owners add constraint chunk_owners_pk primary key (hash, user_id)`.execute(db);
    await db.schema.dropIndex('chunk_owners_hash').ifExists().execute();
  } else {
    await db.schema
      .createTable('chunk_owners_0025')
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('hash', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('chunk_owners_pk', ['hash', 'user_id'])
      .execute();
    // In user order: each user's proofs end up together in the table and its user index.
    await sql`insert into chunk_owners_0025 (user_id, hash) select user_id, hash from chunk_owners order by user_id, hash`.execute(db);
    await db.schema.dropTable('chunk_owners').execute();
    await db.schema.alterTable('chunk_owners_0025').renameTo('chunk_owners').execute();
  }
  await db.schema.createIndex('chunk_owners_user').ifNotExists().on('chunk_owners').column('user_id').execute();

  await db.schema.dropIndex('upload_entries_hash').ifExists().execute();
  await db.schema.dropIndex('upload_entries_upload_hash').ifExists().execute();
  await db.schema.createIndex('upload_entries_by_hash').ifNotExists().on('upload_entries').columns(['hash', 'upload_id', 'file_idx']).execute();

  await db.schema.dropIndex('files_name_fold').ifExists().execute();
  await db.schema.createIndex('files_name_fold').on('files').columns(['name_fold', 'parent']).where('name_fold', 'is not', null).execute();
  await db.schema.dropIndex('files_expires').ifExists().execute();
  await db.schema.createIndex('files_expires').on('files').column('expires_at').where('expires_at', 'is not', null).execute();
}

/** 0028: failures that count toward a defender ban, by address and time (src/store/ban-store.ts). If absent only: as 0027, a database whose migration list was put back (the upgrade tests) keeps it. */
async function defenderFailuresSchema(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('defender_failures')
    .ifNotExists()
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('score', 'integer', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('defender_failures_ip_at').ifNotExists().on('defender_failures').columns(['ip', 'at']).execute();
}

/** 0029: `name_fold` of the names holding invisible characters, as core/path.ts's lookAlikeForm now has it (only those changed). */
async function nameFoldInvisibleSchema(db: Kysely<any>): Promise<void> {
  let after = '';
  for (;;) {
    const rows = (await db.selectFrom('files').select(['path', 'name']).where('name_fold', 'is not', null).where('path', '>', after).orderBy('path').limit(1000).execute()) as Array<{ path: string; name: string }>;
    if (rows.length === 0) break;
    for (const r of rows) {
      if (hasInvisibleCharacters(r.name)) await db.updateTable('files').set({ name_fold: lookAlikeForm(r.name) }).where('path', '=', r.path).execute();
    }
    after = rows[rows.length - 1].path;
  }
}
