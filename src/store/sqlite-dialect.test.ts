import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fromSystemError } from '../core/errors.js';
import { SqliteDialectKeepingErrors } from './sqlite-dialect.js';

interface DB {
  t: { x: Buffer };
}

describe('SqliteDialectKeepingErrors', () => {
  let dir: string;
  let sqlite: Database.Database;
  let db: Kysely<DB>;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-dialect-'));
    sqlite = new Database(join(dir, 'x.db'));
    sqlite.pragma('journal_mode = WAL');
    db = new Kysely<DB>({ dialect: new SqliteDialectKeepingErrors({ database: sqlite }, sqlite) });
    await sql`create table t (x blob)`.execute(db);
  });

  afterEach(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const fill = (trx: Kysely<DB>) => async () => {
    for (let i = 0; i < 100; i++) await trx.insertInto('t').values({ x: Buffer.alloc(4000, i) }).execute();
  };

  it('a full database (SQLite rolled the transaction back itself) surfaces as SQLITE_FULL, i.e. FERRY_ERR_NO_SPACE', async () => {
    sqlite.pragma(`max_page_count = ${Number(sqlite.pragma('page_count', { simple: true })) + 3}`);
    const err = await db.transaction().execute((trx) => fill(trx)()).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'SQLITE_FULL' });
    expect(fromSystemError(err).code).toBe('FERRY_ERR_NO_SPACE');
    expect(sqlite.inTransaction).toBe(false);
    expect(await db.selectFrom('t').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).toEqual({ n: 0 });
  });

  it('still rolls back a transaction that is open when its callback throws', async () => {
    const err = await db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('t').values({ x: Buffer.from('kept?') }).execute();
        throw new Error('callback failed');
      })
      .then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('callback failed');
    expect(sqlite.inTransaction).toBe(false);
    expect(await db.selectFrom('t').selectAll().execute()).toEqual([]);
  });
});
