import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StatementCache } from './statement-cache.js';

let raw: Database.Database;

beforeEach(() => {
  raw = new Database(':memory:');
  raw.exec('create table t (id integer primary key, name text not null)');
  raw.exec("insert into t (id, name) values (1, 'one'), (2, 'two'), (3, 'three')");
});
afterEach(() => {
  if (raw.open) raw.close();
});

describe('StatementCache', () => {
  it('prepares each SQL text once and hands back the same statement', () => {
    const cache = new StatementCache(raw);
    const a = cache.prepare('select name from t where id = ?');
    const b = cache.prepare('select name from t where id = ?');
    expect(b).toBe(a);
    expect(cache.prepare('select id from t where name = ?')).not.toBe(a);
    expect(cache.prepared).toBe(2);
    expect(a.all([2])).toEqual([{ name: 'two' }]);
    expect(b.all([3])).toEqual([{ name: 'three' }]);
  });

  it('evicts the least recently used statement past its capacity', () => {
    const cache = new StatementCache(raw, 2);
    const one = cache.prepare('select 1');
    cache.prepare('select 2');
    expect(cache.prepare('select 1')).toBe(one); // now the most recent
    cache.prepare('select 3'); // evicts `select 2`
    expect(cache.size).toBe(2);
    expect(cache.prepare('select 1')).toBe(one);
    const before = cache.prepared;
    cache.prepare('select 2');
    expect(cache.prepared).toBe(before + 1);
  });

  it('gives a statement of its own while the cached one is being iterated', () => {
    const cache = new StatementCache(raw);
    const text = 'select id from t order by id';
    const it = cache.prepare(text).iterate([]);
    expect(it.next().value).toEqual({ id: 1 });
    const other = cache.prepare(text);
    expect(other.all([])).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
    expect([...it]).toEqual([{ id: 2 }, { id: 3 }]);
    // Finished: the cached statement is free again and reused.
    const before = cache.prepared;
    expect(cache.prepare(text).all([])).toHaveLength(3);
    expect(cache.prepared).toBe(before);
  });

  it('does not cache a statement that fails to prepare', () => {
    const cache = new StatementCache(raw);
    expect(() => cache.prepare('selec nonsense')).toThrow();
    expect(cache.size).toBe(0);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new StatementCache(raw, 0)).toThrow(RangeError);
  });

  describe('under Kysely', () => {
    let cache: StatementCache;
    let db: Kysely<{ t: { id: number; name: string; extra?: string | null } }>;

    beforeEach(() => {
      cache = new StatementCache(raw);
      db = new Kysely({ dialect: new SqliteDialect({ database: cache }) });
    });

    it('runs repeated queries with new parameters and counts changes', async () => {
      for (const id of [1, 2, 3, 2]) {
        const row = await db.selectFrom('t').select('name').where('id', '=', id).executeTakeFirst();
        expect(row?.name).toBe({ 1: 'one', 2: 'two', 3: 'three' }[id]);
      }
      const r = await db.updateTable('t').set({ name: 'TWO' }).where('id', '=', 2).executeTakeFirst();
      expect(r.numUpdatedRows).toBe(1n);
      const r2 = await db.updateTable('t').set({ name: 'x' }).where('id', '=', 99).executeTakeFirst();
      expect(r2.numUpdatedRows).toBe(0n);
      const ins = await db.insertInto('t').values({ id: 4, name: 'four' }).executeTakeFirst();
      expect(ins.insertId).toBe(4n);
      // A constraint failure leaves the statement usable.
      await expect(db.insertInto('t').values({ id: 4, name: 'again' }).execute()).rejects.toThrow(/UNIQUE/);
      await db.insertInto('t').values({ id: 5, name: 'five' }).execute();
      expect(await db.selectFrom('t').select('id').orderBy('id').execute()).toHaveLength(5);
      expect(cache.prepared).toBeLessThan(8);
    });

    it('sees schema changes made after a statement was cached', async () => {
      const all = () => db.selectFrom('t').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
      expect(await all()).toEqual({ id: 1, name: 'one' });
      await sql`alter table t add column extra text`.execute(db);
      await db.updateTable('t').set({ extra: 'x' }).where('id', '=', 1).execute();
      expect(await all()).toEqual({ id: 1, name: 'one', extra: 'x' });
    });

    it('keeps transactions working (begin/commit/rollback reused)', async () => {
      for (let i = 0; i < 3; i++) {
        await expect(
          db.transaction().execute(async (trx) => {
            await trx.insertInto('t').values({ id: 10 + i, name: 'rolled back' }).execute();
            throw new Error('no');
          }),
        ).rejects.toThrow('no');
        await db.transaction().execute(async (trx) => {
          await trx.insertInto('t').values({ id: 20 + i, name: 'kept' }).execute();
        });
      }
      const names = await db.selectFrom('t').select('name').where('id', '>=', 10).execute();
      expect(names.map((r) => r.name)).toEqual(['kept', 'kept', 'kept']);
    });

    it('streams while the same query runs alongside', async () => {
      const seen: number[] = [];
      for await (const row of db.selectFrom('t').select('id').orderBy('id').stream()) seen.push(row.id);
      expect(seen).toEqual([1, 2, 3]);
      expect(await db.selectFrom('t').select('id').orderBy('id').execute()).toHaveLength(3);
    });

    it('closes the database on destroy', async () => {
      await db.selectFrom('t').select('id').execute();
      await db.destroy();
      expect(raw.open).toBe(false);
    });
  });
});
