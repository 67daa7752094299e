import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetaStore } from '../../test/conformance/meta-store.js';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ferryNative } from '../core/native-addon.js';
import { MetaStore, SQLITE_CACHE_KIB, sqliteAddon, WAL_AUTOCHECKPOINT_PAGES } from './meta-store.js';

describeMetaStore('sqlite', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
  return { nodes: 'one', open: (now) => MetaStore.openSqlite(join(dir, 'meta.db'), { now }), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('sqliteAddon', () => {
  it("names better-sqlite3's compiled addon, which loads and opens a database", async () => {
    const file = sqliteAddon();
    expect(file).toMatch(/[\\/]better-sqlite3[\\/]build[\\/]Release[\\/]better_sqlite3\.node$/);
    const { default: SqliteDatabase } = await import('better-sqlite3');
    const db = new SqliteDatabase(':memory:', { nativeBinding: file });
    try {
      expect(db.prepare('select 40 + 2 as n').get()).toEqual({ n: 42 });
    } finally {
      db.close();
    }
  });
});

describe('MetaStore.openSqlite', () => {
  it("releaseMemory hands SQLite's page cache back: with glibc's trim after it, the process shrinks by most of it", async () => {
    const trim = ferryNative().addon?.trimMalloc;
    expect(trim).toBeTypeOf('function'); // the addon is built here (npm install)
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      // 12 MB of rows, read back whole: SQLite's cache (4,000 KiB) holds the last of their pages.
      await sql`CREATE TABLE filler (x BLOB)`.execute(store.db);
      await sql`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO filler SELECT randomblob(4000) FROM n`.execute(store.db);
      expect((await sql<{ n: number }>`SELECT sum(length(x)) AS n FROM filler`.execute(store.db)).rows).toEqual([{ n: 12_000_000 }]);
      trim!();
      const held = process.memoryUsage().rss;
      store.releaseMemory();
      trim!();
      expect(held - process.memoryUsage().rss).toBeGreaterThan(2e6);
      // The pages come back from the file as queries need them.
      expect((await sql<{ n: number }>`SELECT count(*) AS n FROM filler`.execute(store.db)).rows).toEqual([{ n: 3000 }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps a page cache of 4,000 KiB, not better-sqlite3\'s 16,000', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      expect(SQLITE_CACHE_KIB).toBe(4000);
      expect((await sql<{ cache_size: number }>`PRAGMA cache_size`.execute(store.db)).rows).toEqual([{ cache_size: -4000 }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps temporary data (statement journals, sorts) in memory, not in temporary files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      // 2: MEMORY (0 would be the build's default, 1 FILE).
      expect((await sql<{ temp_store: number }>`PRAGMA temp_store`.execute(store.db)).rows).toEqual([{ temp_store: 2 }]);
      expect((await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(store.db)).rows).toEqual([{ journal_mode: 'wal' }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checkpoints the WAL after 4,000 pages, not SQLite\'s default 1,000', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      expect(WAL_AUTOCHECKPOINT_PAGES).toBe(4000);
      expect((await sql<{ wal_autocheckpoint: number }>`PRAGMA wal_autocheckpoint`.execute(store.db)).rows).toEqual([{ wal_autocheckpoint: 4000 }]);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
