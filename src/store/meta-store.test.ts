import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeMetaStore } from '../../test/conformance/meta-store.js';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ferryNative } from '../core/native-addon.js';
import { createHash } from 'node:crypto';
import { fileHashOf } from '../core/manifest.js';
import { AuthStore } from './auth-store.js';
import { MetaStore, SQLITE_CACHE_KIB, sqliteAddon, WAL_AUTOCHECKPOINT_PAGES } from './meta-store.js';
import { VersionStore } from './version-store.js';

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

describe('large trees', () => {
  /** Statements a copy, a move and recursive deletes (into the trash, and not) of a tree of `files` files of their own content run. */
  async function statementsFor(files: number): Promise<Record<string, number>> {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      const specs = Array.from({ length: files }, (_, i) => {
        const chunks = [{ hash: createHash('sha256').update(`c${i}`).digest('hex'), size: 1 }];
        return { path: `/t/d${i % 7}/f${i}`, size: 1, hash: fileHashOf(chunks), chunks };
      });
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: specs });
      for (const f of specs) await store.addChunk(f.chunks[0].hash, 1);
      await store.commitUpload(u.id);
      store.setRetention(new VersionStore(store, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: 30 }), Date.now));
      const count = async (op: () => Promise<unknown>): Promise<number> => {
        const before = store.statements!.lookups;
        await op();
        return store.statements!.lookups - before;
      };
      const out = {
        copy: await count(() => store.copy('/t', '/c')),
        move: await count(() => store.move('/c', '/m')),
        trash: await count(() => store.remove('/m', { recursive: true })),
      };
      expect((await store.list('/', { limit: 10 })).entries.map((e) => e.path)).toEqual(['/t']);
      expect(await store.db.selectFrom('trash').select('path').execute()).toHaveLength(files);
      return out;
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('lets other requests run between the steps of a recursive delete (better-sqlite3 answers at once: without a turn of the event loop between steps, nothing else ran until the whole tree was gone)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    try {
      for (let i = 0; i < 6; i++) await store.mkdir(`/big/d${i}/e`, { parents: true });
      const done: string[] = [];
      const removal = store.remove('/big', { recursive: true, stepRows: 2 }).then((r) => done.push('remove') && r);
      // Another request, as the server's sockets and timers bring them: on a later turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      await store.mkdir('/other');
      done.push('mkdir');
      expect(await removal).toEqual({ files: 0, dirs: 13 });
      expect(done).toEqual(['mkdir', 'remove']);
      expect((await store.list('/', { limit: 10 })).entries.map((e) => e.path)).toEqual(['/other']);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('copies, moves and deletes into the trash a tree in as many statements whatever its number of files (set-based SQL, no rows through the process)', async () => {
    const small = await statementsFor(20);
    const large = await statementsFor(450);
    expect(large).toEqual(small);
    // And few of them: the vault guard's look-ups, the destination's, one or two per step.
    for (const n of Object.values(small)) expect(n).toBeLessThan(30);
  });
});

describe('MetaStore.securityEpoch', () => {
  it('stays as it was through commits, folders and moves; a change to a user moves it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-meta-'));
    const store = await MetaStore.openSqlite(join(dir, 'meta.db'));
    const users = new AuthStore(store);
    try {
      await users.ensureUser({ id: 'u1', name: 'ann', role: 'user', password_hash: null, home: '/ann', created_at: 1 });
      const before = await store.securityEpoch();
      await store.mkdir('/ann', { parents: true });
      const up = await store.createUpload({ owner: 'u1', files: [{ path: '/ann/f', size: 0, hash: fileHashOf([]), chunks: [] }], noOverwrite: false, ttlMs: 60_000 });
      await store.commitUpload(up.id);
      await store.move('/ann/f', '/ann/g');
      // Every file commit changed it once, so the caches it guards were emptied by each upload.
      expect(await store.securityEpoch()).toBe(before);
      await users.updateUser('u1', { disabled: 1 });
      expect(await store.securityEpoch()).not.toBe(before);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
