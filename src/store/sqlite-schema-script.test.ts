import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { schemaOf } from '../../test/helpers/sqlite-schema.js';
import { MetaStore } from './meta-store.js';
import { migrationNames } from './migrations.js';
import { builtSchemaScript, createFromScript, isNewDatabase, readSchemaScript, type SqliteSchemaScript } from './sqlite-schema-script.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-schema-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A script read from a database the migrator made (as scripts/sqlite-schema.mjs does). */
async function migratedScript(): Promise<SqliteSchemaScript> {
  const file = join(dir, 'migrated.db');
  const store = await MetaStore.openSqlite(file);
  expect(store.migrationsRun).toEqual(migrationNames('sqlite')); // from the sources: no built script, the migrator ran
  await store.close();
  const db = new SqliteDatabase(file, { readonly: true });
  try {
    return readSchemaScript(db);
  } finally {
    db.close();
  }
}

describe('a new SQLite database made from the schema script', () => {
  it('is the database the migrator makes, and opens as up to date', async () => {
    const script = await migratedScript();
    expect(script.statements.length).toBeGreaterThan(40);
    const file = join(dir, 'scripted.db');
    const db = new SqliteDatabase(file);
    expect(isNewDatabase(db)).toBe(true);
    expect(createFromScript(db, script, migrationNames('sqlite'), Date.UTC(2026, 11, 7))).toEqual(script.migrations);
    const times = db.prepare('SELECT DISTINCT timestamp FROM kysely_migration').all();
    expect(times).toEqual([{ timestamp: '2026-12-07T00:00:00.000Z' }]);
    expect(db.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    db.close();
    expect(schemaOf(file)).toEqual(schemaOf(join(dir, 'migrated.db')));

    const store = await MetaStore.openSqlite(file);
    try {
      expect(store.migrationsRun).toEqual([]);
      await store.namespace.mkdir('/a b/ç?"', { parents: true });
      expect((await store.namespace.list('/a b', { limit: 10 })).entries.map((e) => e.name)).toEqual(['ç?"']);
    } finally {
      await store.close();
    }
  });

  it("is not made from a script of other migrations, nor into a database that has anything: the migrator's turn", async () => {
    const script = await migratedScript();
    const names = migrationNames('sqlite');
    const db = new SqliteDatabase(join(dir, 'other.db'));
    try {
      expect(createFromScript(db, { ...script, migrations: script.migrations.slice(1) }, names, Date.now())).toBeUndefined();
      expect(createFromScript(db, script, [...names, '9999-future'], Date.now())).toBeUndefined();
      expect(createFromScript(db, undefined, names, Date.now())).toBeUndefined();
      expect(isNewDatabase(db)).toBe(true);
      db.exec('CREATE TABLE mine (x)');
      expect(isNewDatabase(db)).toBe(false);
      expect(createFromScript(db, script, names, Date.now())).toBeUndefined();
      expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all()).toEqual([{ name: 'mine' }]);
    } finally {
      db.close();
    }
  });

  it('is all or nothing: a script failing midway leaves an empty database, which the next open migrates', async () => {
    const script = await migratedScript();
    const broken = { ...script, statements: [...script.statements.slice(0, 20), 'CREATE TABLE files (oops)', ...script.statements.slice(20)] };
    const file = join(dir, 'broken.db');
    const db = new SqliteDatabase(file);
    expect(() => createFromScript(db, broken, migrationNames('sqlite'), Date.now())).toThrow(/already exists/);
    expect(isNewDatabase(db)).toBe(true);
    db.close();
    const store = await MetaStore.openSqlite(file);
    expect(store.migrationsRun).toEqual(migrationNames('sqlite'));
    await store.close();
    expect(schemaOf(file)).toEqual(schemaOf(join(dir, 'migrated.db')));
  });

  it('is refused when a migration left a value the script cannot carry', () => {
    const db = new SqliteDatabase(':memory:');
    try {
      db.exec('CREATE TABLE kysely_migration (name varchar(255) primary key, timestamp varchar(255)); CREATE TABLE keys (k blob)');
      db.prepare('INSERT INTO keys VALUES (?)').run(Buffer.from([1, 2]));
      expect(() => readSchemaScript(db)).toThrow(/JSON cannot carry in table keys/);
    } finally {
      db.close();
    }
  });

  it('has no built script when run from the TypeScript sources', async () => {
    expect(await builtSchemaScript()).toBeUndefined();
  });
});
