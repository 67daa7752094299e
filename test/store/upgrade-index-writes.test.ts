/**
 * A database of the version before migration 0025 (its last migration 0024-token-from-login)
 * upgrades: the users' proofs of possession (`chunk_owners`, rebuilt on SQLite with the key
 * (hash, user_id)) are all kept and answer dedup and garbage collection as before, a live
 * session's entries are found by hash, non-ASCII names and TTLs are found through the
 * partial indexes, and the indexes 0025 drops are gone; on SQLite and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationProvider, type Dialect } from '../../src/store/migrations.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

const PREVIOUS = '0024-token-from-login';
const h = (i: number) => i.toString(16).padStart(64, '0');

/** Rows a server at 0024 may hold: two users' proofs, a live session with entries, files with a TTL and a non-ASCII name. */
async function fillOld(db: Kysely<any>): Promise<void> {
  const now = Date.now();
  await db.insertInto('chunks').values([1, 2, 3].map((i) => ({ hash: h(i), size: 10, pack: null, pack_offset: null, refs: 0, created_at: 1, store: null, stored_size: null }))).execute();
  await db.insertInto('chunk_owners').values([{ user_id: 'alice', hash: h(1) }, { user_id: 'alice', hash: h(2) }, { user_id: 'bob', hash: h(2) }, { user_id: 'bob', hash: h(3) }]).execute();
  await db.insertInto('uploads').values({ id: 'up1', owner: 'alice', no_overwrite: 0, created_at: now, updated_at: now, expires_at: now + 3_600_000, reserved_bytes: 0, scope: '/a', kind: null }).execute();
  await db.insertInto('upload_files').values({ upload_id: 'up1', idx: 0, path: '/a/new.bin', size: 10, hash: null, mtime: null, mode: null, sealed: 1, entry_count: 1, ttl_ms: null }).execute();
  await db.insertInto('upload_entries').values({ upload_id: 'up1', file_idx: 0, seq: 0, hash: h(3), size: 10 }).execute();
  const file = { parent: '/a', type: 'file', size: 0, mtime: 1, mode: null, manifest: null, created_at: 1, updated_at: 1 };
  await db.insertInto('files').values({ ...file, path: '/a', parent: '/', name: 'a', type: 'dir', name_fold: null, expires_at: null }).execute();
  await db.insertInto('files').values({ ...file, path: '/a/café', name: 'café', name_fold: 'café', expires_at: null }).execute();
  await db.insertInto('files').values({ ...file, path: '/a/old.txt', name: 'old.txt', name_fold: null, expires_at: 5 }).execute();
}

async function indexNames(db: Kysely<any>, dialect: Dialect): Promise<string[]> {
  const q =
    dialect === 'postgres'
      ? sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = current_schema()`
      : sql<{ name: string }>`select name from sqlite_master where type = 'index'`;
  return (await q.execute(db)).rows.map((r) => r.name).sort();
}

async function checkUpgraded(meta: MetaStore): Promise<void> {
  const db = meta.db as unknown as Kysely<any>;
  const owners = await db.selectFrom('chunk_owners').select(['user_id', 'hash']).orderBy('user_id').orderBy('hash').execute();
  expect(owners).toEqual([{ user_id: 'alice', hash: h(1) }, { user_id: 'alice', hash: h(2) }, { user_id: 'bob', hash: h(2) }, { user_id: 'bob', hash: h(3) }]);
  expect([...(await meta.ownedChunks('alice', [h(1), h(2), h(3)]))].sort()).toEqual([h(1), h(2)]);
  expect([...(await meta.ownedChunks('bob', [h(1), h(2), h(3)]))].sort()).toEqual([h(2), h(3)]);
  // A proof is still one row per user and chunk.
  await meta.addChunkOwners('alice', [h(1), h(3)]);
  expect((await db.selectFrom('chunk_owners').select('hash').where('user_id', '=', 'alice').execute()).length).toBe(3);
  // The session's chunk is found by hash in it.
  expect(await meta.chunkPutContext('up1', h(3))).toMatchObject({ path: '/a/new.bin', declared: 10 });
  expect(await meta.missingChunks('up1')).toEqual([]);
  // Garbage collection leaves the session's chunk, takes the others with their proofs.
  const victims = await meta.collectGarbage(2, 100);
  expect(victims.chunks.sort()).toEqual([h(1), h(2)]);
  expect(await db.selectFrom('chunk_owners').select(['user_id', 'hash']).orderBy('user_id').orderBy('hash').execute()).toEqual([{ user_id: 'alice', hash: h(3) }, { user_id: 'bob', hash: h(3) }]);
  // A look-alike of the non-ASCII name is refused; the expired file goes.
  await expect(meta.mkdir('/a/cafe\u0301')).rejects.toThrow(/caf/);
  expect(await meta.removeExpired()).toEqual(['/a/old.txt']);

  const names = await indexNames(db, meta.dialect);
  expect(names).toEqual(expect.arrayContaining(['chunk_owners_user', 'upload_entries_by_hash', 'files_name_fold', 'files_expires']));
  for (const gone of ['files_manifest', 'chunk_owners_hash', 'upload_entries_hash', 'upload_entries_upload_hash']) expect(names).not.toContain(gone);
}

describe('upgrading a database from before migration 0025 (fewer index writes)', () => {
  let postgres: PostgresHandle;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('SQLite: proofs, sessions, names and TTLs stored at 0024 work after the upgrade', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-0025-'));
    try {
      const file = join(dir, 'meta.db');
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(file) }) });
      expect((await new Migrator({ db: old, provider: migrationProvider('sqlite') }).migrateTo(PREVIOUS)).error).toBeUndefined();
      await fillOld(old);
      expect(await indexNames(old, 'sqlite')).toContain('chunk_owners_hash');
      await old.destroy();

      const meta = await MetaStore.openSqlite(file);
      try {
        await checkUpgraded(meta);
      } finally {
        await meta.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PostgreSQL: proofs, sessions, names and TTLs stored at 0024 work after the upgrade', async () => {
    const url = await postgres.createDatabase();
    const old = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
    expect((await new Migrator({ db: old, provider: migrationProvider('postgres') }).migrateTo(PREVIOUS)).error).toBeUndefined();
    await fillOld(old);
    await old.destroy();

    const meta = await MetaStore.openPostgres(url, { poolSize: 2 });
    try {
      await checkUpgraded(meta);
    } finally {
      await meta.close();
    }
  });
});
