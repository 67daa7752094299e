/**
 * A new SQLite database gets its whole schema in one transaction (MetaStore.migrate): every
 * migration recorded by one run, nothing done again by the next, and a migration that fails
 * leaves nothing behind (no table of an earlier migration, no migration recorded), so the
 * next start begins from a clean file; a database already migrated opens without the migrator,
 * which still refuses one a newer build migrated. Older databases upgrading: test/store/upgrade.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { migrationProvider } from '../../src/store/migrations.js';

const dir = mkdtempSync(join(tmpdir(), 'ferry-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The `name` of every row `sql` gives, read from the database file at `file`. */
const column = (file: string, sql: string): string[] => {
  const db = new Database(file, { readonly: true });
  try {
    return (db.prepare(sql).all() as { name: string }[]).map((r) => r.name);
  } finally {
    db.close();
  }
};
const tables = (file: string): string[] => column(file, "select name from sqlite_master where type = 'table' and name not like 'sqlite_%' order by name");
const recorded = (file: string): string[] => column(file, 'select name from kysely_migration order by name');

describe('a new SQLite database', () => {
  it('gets every migration in one run, and a second open runs none', async () => {
    const file = join(dir, 'fresh.db');
    const all = Object.keys(await migrationProvider('sqlite').getMigrations()).sort();
    const store = await MetaStore.openSqlite(file);
    await store.close();
    expect(recorded(file)).toEqual(all);
    expect(tables(file)).toEqual(expect.arrayContaining(['files', 'chunks', 'users', 'leases', 'bans']));
    const again = await MetaStore.openSqlite(file);
    await again.close();
    expect(recorded(file)).toEqual(all);
  });

  it('is left untouched by a migration that fails, and migrates once the cause is gone', async () => {
    const file = join(dir, 'conflict.db');
    // A late migration (0021) creates `bans`: a table of that name makes it fail.
    const db = new Database(file);
    db.exec('create table bans (x integer)');
    db.close();
    await expect(MetaStore.openSqlite(file)).rejects.toThrow(/bans/);
    expect(tables(file)).toEqual(['bans']); // not one table of 0001-0020, no migration table
    const fix = new Database(file);
    fix.exec('drop table bans');
    fix.close();
    const store = await MetaStore.openSqlite(file);
    await store.close();
    expect(recorded(file)).toEqual(Object.keys(await migrationProvider('sqlite').getMigrations()).sort());
  });

  it('opens without the migrator once every migration is done, and still refuses a database a newer build migrated', async () => {
    const file = join(dir, 'newer.db');
    await (await MetaStore.openSqlite(file)).close();
    // Every start after the first reads the migration table and finds nothing to do.
    await (await MetaStore.openSqlite(file)).close();
    const db = new Database(file);
    db.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run('9999-from-a-newer-build', new Date().toISOString());
    db.close();
    await expect(MetaStore.openSqlite(file)).rejects.toMatchObject({ code: 'FERRY_ERR_CONFIG', message: expect.stringContaining('upgraded by a newer version of Ferry (its migration 9999-from-a-newer-build is unknown to this one)') });
  });

  it('names every migration a newer build ran, in the plural when there are several', async () => {
    const file = join(dir, 'newer2.db');
    await (await MetaStore.openSqlite(file)).close();
    const db = new Database(file);
    for (const name of ['9998-first-newer', '9999-second-newer']) db.prepare('insert into kysely_migration (name, timestamp) values (?, ?)').run(name, new Date().toISOString());
    db.close();
    await expect(MetaStore.openSqlite(file)).rejects.toMatchObject({
      code: 'FERRY_ERR_CONFIG',
      message: expect.stringContaining('upgraded by a newer version of Ferry (its migrations 9998-first-newer, 9999-second-newer are unknown to this one)'),
    });
  });
});

