/**
 * A new SQLite metadata database made from one script: the schema the migrations leave, read
 * from a database they made when the server was built (scripts/sqlite-schema.mjs writes
 * sqlite-schema.json beside this module's compiled form and the bundle). A first start then
 * runs some sixty CREATE statements in one transaction instead of Kysely's migrator building
 * and compiling each migration's statements: 3 ms of CPU instead of ~40 on this machine
 * (benchmarks/results/issue-15-speed.md, branch speed18).
 *
 * Only a database with nothing in it yet (no table, no index) is made this way, and only when
 * the script was made from exactly this build's migrations; otherwise (no file: run from the
 * TypeScript sources, or a database an older version made) the migrator runs, as before. The
 * script runs in one transaction: a start killed midway leaves an empty database, which the
 * next start makes again.
 */
import { readFile } from 'node:fs/promises';
import type SqliteDatabase from 'better-sqlite3';
import { DEFAULT_MIGRATION_TABLE } from 'kysely';
import { isoTime } from '../core/iso-time.js';

/** The file's name, beside this module in dist/src/store and in dist/bundle. */
export const SQLITE_SCHEMA_FILE = 'sqlite-schema.json';

export interface SqliteSchemaScript {
  /** The migrations whose result this is, in name order (Kysely's migration table). */
  migrations: string[];
  /** The schema's CREATE statements (sqlite_master), in the order the migrations made them. */
  statements: string[];
  /** The rows the migrations left in tables other than the migration table's. */
  rows: { table: string; columns: string[]; values: (string | number | null)[][] }[];
}

/** Reads a migrated database's schema and rows as a script (the build; tests). */
export function readSchemaScript(sqlite: SqliteDatabase.Database): SqliteSchemaScript {
  const q = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const migrations = (sqlite.prepare(`SELECT name FROM ${q(DEFAULT_MIGRATION_TABLE)} ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
  // SQLite's own objects (sqlite_sequence, sqlite_autoindex_*) come with the statements that make them.
  const objects = sqlite.prepare(`SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid`).all() as { type: string; name: string; sql: string }[];
  const rows: SqliteSchemaScript['rows'] = [];
  for (const { name } of objects.filter((o) => o.type === 'table' && o.name !== DEFAULT_MIGRATION_TABLE)) {
    const stmt = sqlite.prepare(`SELECT * FROM ${q(name)}`).raw(true);
    const values = stmt.all() as unknown[][];
    if (values.length === 0) continue;
    for (const v of values.flat()) {
      if (v !== null && typeof v !== 'string' && typeof v !== 'number') throw new Error(`a migration left a value JSON cannot carry in table ${name}: give sqlite-schema-script.ts a way to write it`);
    }
    rows.push({ table: name, columns: stmt.columns().map((c) => c.name), values: values as SqliteSchemaScript['rows'][number]['values'] });
  }
  return { migrations, statements: objects.map((o) => o.sql), rows };
}

/** The script the build wrote, or undefined when there is none (run from the TypeScript sources). */
export function builtSchemaScript(): Promise<SqliteSchemaScript | undefined> {
  return readFile(new URL(`./${SQLITE_SCHEMA_FILE}`, import.meta.url), 'utf8').then(
    (text) => JSON.parse(text) as SqliteSchemaScript,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    },
  );
}

/** Whether the database holds no table, index, view or trigger yet. */
export function isNewDatabase(sqlite: SqliteDatabase.Database): boolean {
  return (sqlite.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number }).n === 0;
}

/**
 * Makes a new database from `script` when the database is empty and the script is the result
 * of exactly `migrations` (this build's); returns the migrations it stands for, or undefined
 * when it did nothing (the migrator's turn). All or nothing: one transaction.
 */
export function createFromScript(sqlite: SqliteDatabase.Database, script: SqliteSchemaScript | undefined, migrations: readonly string[], now: number): string[] | undefined {
  if (script === undefined) return undefined;
  const sorted = [...migrations].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (script.migrations.length !== sorted.length || script.migrations.some((m, i) => m !== sorted[i])) return undefined;
  const run = sqlite.transaction(() => {
    // Checked inside the transaction (BEGIN IMMEDIATE): another process making it meanwhile is seen.
    if (!isNewDatabase(sqlite)) return false;
    sqlite.exec(script.statements.map((s) => `${s};\n`).join(''));
    for (const { table, columns, values } of script.rows) {
      const insert = sqlite.prepare(`INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`);
      for (const row of values) insert.run(row);
    }
    const ran = sqlite.prepare(`INSERT INTO "${DEFAULT_MIGRATION_TABLE}" (name, timestamp) VALUES (?, ?)`);
    const at = isoTime(now);
    for (const name of script.migrations) ran.run(name, at);
    return true;
  });
  return run.immediate() ? [...script.migrations] : undefined;
}
