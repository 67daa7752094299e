/**
 * Copies a whole metadata database into another, empty one: how a single-node installation
 * (SQLite) moves to PostgreSQL to become the first of several nodes (`ferry admin migrate`).
 * Chunks are not copied: they stay where they are (a shared store is used as it is) or move
 * with `ferry copy`/`ferry sync` between stores.
 *
 * Both sides are brought to the latest schema first (opening a MetaStore migrates it), so
 * they have the same tables and columns. The tables are found in the source, not listed
 * here: one that a later migration adds is copied without a change to this file. Everything
 * goes in one destination transaction: a failure leaves the destination as empty as it was.
 */
import { sql, type Kysely } from 'kysely';
import { ConfigError } from '../core/errors.js';
import type { MetaStore } from './meta-store.js';

/** Bound parameters per INSERT, below PostgreSQL's 65535 and SQLite's 32766. */
const PARAMS_PER_INSERT = 30_000;
/** Rows read from the source at a time (memory stays bounded whatever the database's size). */
const READ_ROWS = 2000;

export interface CopyReport {
  tables: { name: string; rows: number }[];
}

/** The tables of a database, apart from the migrator's own. */
async function tablesOf(store: MetaStore): Promise<string[]> {
  const q =
    store.dialect === 'sqlite'
      ? sql<{ name: string }>`select name from sqlite_master where type = 'table' and name not like 'sqlite\\_%' escape '\\' and name not like 'kysely\\_%' escape '\\' order by name`
      : sql<{ name: string }>`select table_name as name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' and table_name not like 'kysely\\_%' order by table_name`;
  return (await q.execute(store.db)).rows.map((r) => r.name);
}

/** The primary-key columns of a SQLite table, to read it in a stable order page by page. */
async function orderOf(store: MetaStore, table: string): Promise<string[]> {
  const cols = (await sql<{ name: string; pk: number }>`select name, pk from pragma_table_info(${table})`.execute(store.db)).rows;
  const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
  return pk.length > 0 ? pk : ['rowid'];
}

export async function copyMetadata(from: MetaStore, to: MetaStore, onTable?: (name: string, rows: number) => void): Promise<CopyReport> {
  if (from.dialect !== 'sqlite' || to.dialect !== 'postgres') throw new ConfigError('ferry admin migrate copies an SQLite database into PostgreSQL');
  const tables = await tablesOf(from);
  const target = new Set(await tablesOf(to));
  const unknown = tables.filter((t) => !target.has(t));
  if (unknown.length > 0) throw new ConfigError(`the destination lacks the tables ${unknown.join(', ')}: is it a newer Ferry's database than this one?`);
  for (const t of target) {
    const { rows } = await sql<{ n: number }>`select count(*) as n from ${sql.table(t)}`.execute(to.db);
    if (Number(rows[0].n) > 0) throw new ConfigError(`the destination is not empty (table ${t} has rows): migrate into a new database`);
  }
  const report: CopyReport = { tables: [] };
  const src = from.db as unknown as Kysely<Record<string, Record<string, unknown>>>;
  await to.db.transaction().execute(async (trx) => {
    const dst = trx as unknown as Kysely<Record<string, Record<string, unknown>>>;
    for (const table of tables) {
      const order = await orderOf(from, table);
      let copied = 0;
      for (let offset = 0; ; offset += READ_ROWS) {
        let q = src.selectFrom(table).selectAll();
        for (const c of order) q = q.orderBy(sql.ref(c));
        const rows = await q.limit(READ_ROWS).offset(offset).execute();
        if (rows.length === 0) break;
        const perInsert = Math.max(1, Math.floor(PARAMS_PER_INSERT / Math.max(1, Object.keys(rows[0]).length)));
        for (let i = 0; i < rows.length; i += perInsert) await dst.insertInto(table).values(rows.slice(i, i + perInsert)).execute();
        copied += rows.length;
        if (rows.length < READ_ROWS) break;
      }
      // Serial ids (audit entries, webhook deliveries) go on after the copied ones.
      const serial = await sql<{ column_name: string }>`select column_name from information_schema.columns where table_schema = current_schema() and table_name = ${table} and column_default like 'nextval(%'`.execute(trx);
      for (const { column_name } of serial.rows) {
        await sql`select setval(pg_get_serial_sequence(${table}, ${column_name}), coalesce((select max(${sql.ref(column_name)}) from ${sql.table(table)}), 0) + 1, false)`.execute(trx);
      }
      report.tables.push({ name: table, rows: copied });
      onTable?.(table, copied);
    }
  });
  return report;
}

