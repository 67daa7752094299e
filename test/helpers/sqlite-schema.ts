import SqliteDatabase from 'better-sqlite3';

/**
 * Everything an SQLite metadata database's schema is: sqlite_master's objects (SQLite's own
 * included), every table's columns and rows, the migrations' times left out. `rows: false`
 * leaves the rows out (a database a server has used).
 */
export function schemaOf(file: string, { rows = true } = {}): unknown {
  const db = new SqliteDatabase(file, { readonly: true });
  try {
    const objects = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name').all() as { type: string; name: string }[];
    const tables = objects.filter((o) => o.type === 'table').map((o) => o.name);
    return {
      objects,
      columns: tables.map((t) => db.pragma(`table_xinfo("${t}")`)),
      rows: rows && tables.map((t) => [t, db.prepare(`SELECT * FROM "${t}"`).all().map((r) => ({ ...(r as object), timestamp: undefined }))]),
    };
  } finally {
    db.close();
  }
}
