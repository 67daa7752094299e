/**
 * Migration 0027: the trash is indexed by batch, so that listing or restoring the files one
 * delete put there (`GET /api/v1/trash?batch=B`, a folder restored at once) seeks to them
 * instead of reading the whole trash. A database of the version before (its last migration
 * 0026-share-target-type) upgrades with its trash kept; on SQLite and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationProvider } from '../../src/store/migrations.js';
import { VersionStore } from '../../src/store/version-store.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

const PREVIOUS = '0026-share-target-type';

/** Three deletes' worth of trash: batch `b1` of 2 files, `b2` of 40, `b3` of 1. */
async function fillOld(db: Kysely<any>): Promise<void> {
  const row = (batch: string, path: string, at: number) => ({ batch, path, manifest: 'm-' + path, size: 1, mtime: 1, mode: null, deleted_at: at, deleted_by: null });
  await db.insertInto('trash').values([row('b1', '/a/x', 1), row('b1', '/a/y', 1)]).execute();
  await db.insertInto('trash').values(Array.from({ length: 40 }, (_, i) => row('b2', `/big/f${i}`, 2))).execute();
  await db.insertInto('trash').values([row('b3', '/a/x', 3)]).execute();
}

/** The plan of the batch listing's query (VersionStore.trash with `batch`, whole tree). */
async function batchPlan(meta: MetaStore): Promise<string> {
  const db = meta.db as unknown as Kysely<any>;
  if (meta.dialect === 'postgres') {
    // A table this small is read whole whatever indexes it has: forbid that, so that the plan
    // shows which index the query can seek with.
    return db.connection().execute(async (c) => {
      await sql`set enable_seqscan = off`.execute(c);
      const rows = (await sql<{ 'QUERY PLAN': string }>`explain select * from trash where batch = ${'b1'} order by id desc limit 101`.execute(c)).rows;
      await sql`reset enable_seqscan`.execute(c);
      return rows.map((r) => r['QUERY PLAN']).join('\n');
    });
  }
  const rows = (await sql<{ detail: string }>`explain query plan select * from trash where batch = ${'b1'} order by id desc limit 101`.execute(db)).rows;
  return rows.map((r) => r.detail).join('\n');
}

async function checkUpgraded(meta: MetaStore): Promise<void> {
  const versions = new VersionStore(meta, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: 30 }), Date.now);
  const b1 = await versions.trash('/', { batch: 'b1' });
  expect(b1.entries.map((e) => e.path).sort()).toEqual(['/a/x', '/a/y']);
  expect(b1.next).toBeUndefined();
  // Paged within a batch, newest first, every file once.
  const seen: string[] = [];
  let before: number | undefined;
  for (;;) {
    const page = await versions.trash('/', { batch: 'b2', limit: 15, before });
    seen.push(...page.entries.map((e) => e.path));
    if (page.next === undefined) break;
    before = page.next;
  }
  expect(seen.sort()).toEqual(Array.from({ length: 40 }, (_, i) => `/big/f${i}`).sort());
  expect((await versions.trash('/a', { batch: 'b3' })).entries.map((e) => e.path)).toEqual(['/a/x']);

  expect(await batchPlan(meta)).toMatch(/trash_batch/);
}

describe('the trash indexed by batch (migration 0027)', () => {
  let postgres: PostgresHandle;
  beforeAll(async () => {
    postgres = await startPostgres();
  });
  afterAll(async () => {
    await postgres?.stop();
  });

  it('SQLite: a trash stored at 0026 is listed by batch through the index after the upgrade', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-upgrade-0027-'));
    try {
      const file = join(dir, 'meta.db');
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(file) }) });
      expect((await new Migrator({ db: old, provider: migrationProvider('sqlite') }).migrateTo(PREVIOUS)).error).toBeUndefined();
      await fillOld(old);
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

  it('PostgreSQL: a trash stored at 0026 is listed by batch through the index after the upgrade', async () => {
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

  it('a new database has the index', async () => {
    const meta = await MetaStore.openSqlite(':memory:');
    try {
      expect(await batchPlan(meta)).toMatch(/USING INDEX trash_batch/);
    } finally {
      await meta.close();
    }
  });
});
