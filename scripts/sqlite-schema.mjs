// Writes the schema this build's migrations make in a new SQLite database as one script,
// dist/src/store/sqlite-schema.json (scripts/bundle.mjs copies it into dist/bundle): a first
// start on a new data directory runs it instead of the migrator (see
// src/store/sqlite-schema-script.ts). Runs after tsc, before the bundle.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

const { SQLITE_SCHEMA_FILE, readSchemaScript } = await import('../dist/src/store/sqlite-schema-script.js');
const target = `dist/src/store/${SQLITE_SCHEMA_FILE}`;
// An earlier build's script must not make the database the new one is read from.
rmSync(target, { force: true });
const { MetaStore } = await import('../dist/src/store/meta-store.js');
const dir = mkdtempSync(join(tmpdir(), 'ferry-schema-'));
try {
  const file = join(dir, 'meta.db');
  await (await MetaStore.openSqlite(file)).close();
  const sqlite = new Database(file, { readonly: true });
  writeFileSync(target, JSON.stringify(readSchemaScript(sqlite)));
  sqlite.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
