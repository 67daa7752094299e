import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PreparedQuery } from './prepared-query.js';
import { StatementCache } from './statement-cache.js';

interface DB {
  t: { id: number; name: string; note: string | null };
}

let cache: StatementCache;
let db: Kysely<DB>;

beforeEach(async () => {
  cache = new StatementCache(new Database(':memory:'));
  db = new Kysely<DB>({ dialect: new SqliteDialect({ database: cache }) });
  await sql`create table t (id integer primary key, name text not null, note text)`.execute(db);
  await db.insertInto('t').values([{ id: 1, name: 'one', note: null }, { id: 2, name: 'two', note: 'x' }]).execute();
});
afterEach(async () => {
  await db.destroy();
});

describe('PreparedQuery', () => {
  it('runs the compiled SQL with each call’s arguments, fixed values kept', async () => {
    const byId = new PreparedQuery(1, (k: Kysely<DB>, id: number) => k.selectFrom('t').select(['name', 'note']).where('id', '=', id).where('name', '!=', 'zzz'));
    expect(await byId.first(db, 1)).toEqual({ name: 'one', note: null });
    expect(await byId.first(db, 2)).toEqual({ name: 'two', note: 'x' });
    expect(await byId.first(db, 3)).toBeUndefined();
  });

  it('binds an argument used twice in both places, and nulls as values', async () => {
    const q = new PreparedQuery(2, (k: Kysely<DB>, name: string, note: string | null) =>
      k.insertInto('t').values({ id: sql<number>`(select max(id) + 1 from t)`, name, note }).onConflict((oc) => oc.column('id').doNothing()),
    );
    expect((await q.execute(db, 'three', null)).numAffectedRows).toBe(1n);
    expect((await q.execute(db, 'four', 'n')).numAffectedRows).toBe(1n);
    expect(await db.selectFrom('t').select(['id', 'name', 'note']).where('id', '>', 2).orderBy('id').execute()).toEqual([
      { id: 3, name: 'three', note: null },
      { id: 4, name: 'four', note: 'n' },
    ]);
    const twice = new PreparedQuery(1, (k: Kysely<DB>, name: string) => k.selectFrom('t').select('id').where((eb) => eb.or([eb('name', '=', name), eb('note', '=', name)])));
    expect((await twice.execute(db, 'x')).rows).toEqual([{ id: 2 }]);
    expect((await twice.execute(db, 'one')).rows).toEqual([{ id: 1 }]);
  });

  it('runs inside a transaction, and is compiled once', async () => {
    let builds = 0;
    const rename = new PreparedQuery(2, (k: Kysely<DB>, id: number, name: string) => {
      builds++;
      return k.updateTable('t').set({ name }).where('id', '=', id);
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await rename.execute(trx, 1, 'uno');
        expect(await trx.selectFrom('t').select('name').where('id', '=', 1).executeTakeFirst()).toEqual({ name: 'uno' });
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await db.selectFrom('t').select('name').where('id', '=', 1).executeTakeFirst()).toEqual({ name: 'one' });
    expect((await rename.execute(db, 2, 'dos')).numAffectedRows).toBe(1n);
    expect(builds).toBe(1);
    expect(await db.selectFrom('t').select('name').where('id', '=', 2).executeTakeFirst()).toEqual({ name: 'dos' });
  });

  it('refuses a build that does not bind an argument as it came', async () => {
    const plusOne = new PreparedQuery(1, (k: Kysely<DB>, id: number) => k.selectFrom('t').select('name').where('id', '=', Number(id) + 1));
    await expect(plusOne.first(db, 1)).rejects.toThrow(/argument 0 is not among the bound values/);
    const ignored = new PreparedQuery(2, (k: Kysely<DB>, id: number) => k.selectFrom('t').select('name').where('id', '=', id));
    await expect(ignored.execute(db, 1)).rejects.toThrow(/argument 1/);
  });
});
