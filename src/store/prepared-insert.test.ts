import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type Generated } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreparedInsert } from './prepared-insert.js';
import { StatementCache } from './statement-cache.js';

interface Row {
  id: number;
  name: string;
  note: string | null;
}
interface DB {
  t: Row & { flag: Generated<number> };
}

let cache: StatementCache;
let db: Kysely<DB>;

beforeEach(async () => {
  cache = new StatementCache(new Database(':memory:'));
  db = new Kysely<DB>({ dialect: new SqliteDialect({ database: cache }) });
  await sql`create table t (id integer primary key, name text not null, note text, flag integer not null default 7)`.execute(db);
});
afterEach(async () => {
  await db.destroy();
});

const rowsOf = (from: number, n: number): Row[] => Array.from({ length: n }, (_, i) => ({ id: from + i, name: `n${from + i}`, note: (from + i) % 3 === 0 ? null : `x${from + i}` }));
const all = () => db.selectFrom('t').select(['id', 'name', 'note', 'flag']).orderBy('id').execute();

describe('PreparedInsert', () => {
  it('inserts every row with its own values, fixed values kept, in statements of maxRows then powers of two', async () => {
    let builds = 0;
    const insert = new PreparedInsert<DB, Row>(['id', 'name', 'note'], 8, (k, rows) => {
      builds++;
      return k.insertInto('t').values(rows.map((r) => ({ ...r, flag: 1 })));
    });
    const before = cache.lookups;
    // 8 + 8 + 4 + 2 + 1 rows.
    expect(await insert.execute(db, rowsOf(1, 23))).toBe(23);
    expect(cache.lookups - before).toBe(5);
    expect(await all()).toEqual(rowsOf(1, 23).map((r) => ({ ...r, flag: 1 })));
    // Shapes 8, 4, 2, 1: each built once, whatever the counts that follow.
    expect(builds).toBe(4);
    await insert.execute(db, rowsOf(100, 7));
    await insert.execute(db, rowsOf(200, 15));
    expect(builds).toBe(4);
    expect(insert.shapeCount).toBe(4);
    expect((await all()).length).toBe(23 + 7 + 15);
    expect(await db.selectFrom('t').select(['name', 'note']).where('id', '=', 214).executeTakeFirst()).toEqual({ name: 'n214', note: 'x214' });
  });

  it('counts only the rows a conflict clause lets in, and updates through excluded', async () => {
    const insertNew = new PreparedInsert<DB, Row>(['id', 'name', 'note'], 4, (k, rows) => k.insertInto('t').values(rows).onConflict((oc) => oc.column('id').doNothing()));
    expect(await insertNew.execute(db, rowsOf(1, 5))).toBe(5);
    expect(await insertNew.execute(db, rowsOf(3, 6))).toBe(3);
    const upsert = new PreparedInsert<DB, Row>(['id', 'name', 'note'], 4, (k, rows) =>
      k
        .insertInto('t')
        .values(rows)
        .onConflict((oc) => oc.column('id').doUpdateSet((eb) => ({ name: eb.ref('excluded.name') }))),
    );
    expect(await upsert.execute(db, [{ id: 2, name: 'two', note: 'ignored' }, { id: 50, name: 'fifty', note: null }])).toBe(2);
    expect(await db.selectFrom('t').select(['id', 'name', 'note', 'flag']).where('id', 'in', [2, 50]).orderBy('id').execute()).toEqual([
      { id: 2, name: 'two', note: 'x2', flag: 7 },
      { id: 50, name: 'fifty', note: null, flag: 7 },
    ]);
  });

  it('inserts nothing for no rows, and refuses a row without a column rather than writing a default', async () => {
    const insert = new PreparedInsert<DB, Row>(['id', 'name', 'note'], 4, (k, rows) => k.insertInto('t').values(rows));
    expect(await insert.execute(db, [])).toBe(0);
    const partial = [{ id: 1, name: 'one', note: null }, { id: 2, name: 'two' } as Row];
    await expect(insert.execute(db, partial)).rejects.toThrow(/row 1 gives no value for column note/);
    expect(await all()).toEqual([]);
    expect(() => new PreparedInsert<DB, Row>(['id'], 0, (k, rows) => k.insertInto('t').values(rows))).toThrow(RangeError);
  });

  it('runs in the caller’s transaction: a failing row rolls every statement back', async () => {
    const insert = new PreparedInsert<DB, Row>(['id', 'name', 'note'], 2, (k, rows) => k.insertInto('t').values(rows));
    const rows = rowsOf(1, 5);
    rows[4] = { ...rows[4], id: 1 };
    await expect(db.transaction().execute((trx) => insert.execute(trx, rows))).rejects.toThrow(/UNIQUE/);
    expect(await all()).toEqual([]);
  });
});
