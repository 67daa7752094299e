/**
 * A folder moved or deleted on one node while another node writes into it, on a real
 * PostgreSQL (two metadata stores, each with its own pool: two nodes in all but the process).
 * PostgreSQL locks rows, not the database, and a statement sees the rows committed when it
 * began: a move's (or a delete's) one UPDATE (DELETE) of the tree did not see a folder made
 * in it by a transaction that had found its parent and committed during that statement. The
 * new row stayed at the old path, below a folder that was no longer there: an entry no
 * listing showed (and an upload's file, its commit acknowledged, lost to its owner).
 *
 * The writer is held, deterministically, between finding the parent and inserting its row:
 * the test's own transaction has inserted (and not committed) a row at the same path, so the
 * writer's INSERT waits for it; the move or delete then runs, and the test's transaction
 * rolls back, letting the writer go on.
 */
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MetaStore } from '../../src/store/meta-store.js';
import { DELETE_STEP_ROWS } from '../../src/store/namespace.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';

let postgres: PostgresHandle;
beforeAll(async () => {
  postgres = await startPostgres();
}, 120_000);
afterAll(async () => {
  await postgres?.stop();
});

/** Rows whose parent folder is not there (the root always is). */
async function orphans(meta: MetaStore): Promise<string[]> {
  const { rows } = await sql<{ path: string }>`select f.path from files f where f.parent <> '/' and not exists (select 1 from files p where p.path = f.parent and p.type = 'dir') order by f.path`.execute(meta.db);
  return rows.map((r) => r.path);
}

/** Backends of this database waiting for a lock. */
async function waitingForLocks(meta: MetaStore): Promise<number> {
  const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`.execute(meta.db);
  return rows[0].n;
}

/** Polls until `done` holds (at most 30 s). */
async function until(done: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('condition not reached in 30 s');
}

describe('a folder moved or deleted while another node writes into it (PostgreSQL)', () => {
  for (const op of ['move', 'remove'] as const) {
    it(`${op}: the folder made meanwhile goes with the tree (or is refused), never left below a folder that is gone`, async () => {
      const url = await postgres.createDatabase();
      const nodeA = await MetaStore.openPostgres(url, { poolSize: 3 });
      const nodeB = await MetaStore.openPostgres(url, { poolSize: 3 });
      const holder = new pg.Client({ connectionString: url });
      await holder.connect();
      try {
        for (let i = 0; i < 20; i++) await nodeA.namespace.mkdir(`/big/d${i}/inner`, { parents: true });
        // The test's transaction holds the path the writer is about to insert.
        await holder.query('begin');
        await holder.query(`insert into files (path, parent, name, type, size, mtime, created_at, updated_at) values ('/big/d7/new', '/big/d7', 'new', 'dir', 0, 0, 0, 0)`);
        const written = nodeB.namespace.mkdir('/big/d7/new').then(
          () => 'made',
          (err: { code?: string }) => err.code ?? String(err),
        );
        await until(async () => (await waitingForLocks(nodeA)) >= 1);
        let finished = false;
        const changed = (op === 'move' ? nodeA.namespace.move('/big', '/moved') : nodeA.namespace.remove('/big', { recursive: true })).finally(() => (finished = true));
        // Either the tree's change is done, or it waits too (for the writer, once that is fixed).
        await until(async () => finished || (await waitingForLocks(nodeA)) >= 2);
        await holder.query('rollback');
        await changed;
        const outcome = await written;
        expect(await orphans(nodeA)).toEqual([]);
        const paths = (await sql<{ path: string }>`select path from files order by path`.execute(nodeA.db)).rows.map((r) => r.path);
        if (op === 'move') {
          expect(paths.filter((p) => p.startsWith('/big'))).toEqual([]);
          // Made before the move took the tree (so it moved with it), or refused after (the parent gone).
          expect(outcome === 'made' ? paths.includes('/moved/d7/new') : outcome).toBe(outcome === 'made' ? true : 'FERRY_ERR_NOT_FOUND');
          expect(paths.filter((p) => p.startsWith('/moved/'))).toHaveLength(40 + (outcome === 'made' ? 1 : 0));
        } else {
          expect(paths).toEqual([]);
          expect(['made', 'FERRY_ERR_NOT_FOUND']).toContain(outcome);
        }
      } finally {
        await holder.end().catch(() => undefined);
        await nodeA.close();
        await nodeB.close();
      }
    }, 60_000);
  }

  it('an empty folder deleted while a folder is made in it: refused as not empty, the new folder kept', async () => {
    const url = await postgres.createDatabase();
    const nodeA = await MetaStore.openPostgres(url, { poolSize: 3 });
    const nodeB = await MetaStore.openPostgres(url, { poolSize: 3 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await nodeA.namespace.mkdir('/empty');
      await holder.query('begin');
      await holder.query(`insert into files (path, parent, name, type, size, mtime, created_at, updated_at) values ('/empty/new', '/empty', 'new', 'dir', 0, 0, 0, 0)`);
      const written = nodeB.namespace.mkdir('/empty/new').then(() => 'made', (err: { code?: string }) => err.code ?? String(err));
      await until(async () => (await waitingForLocks(nodeA)) >= 1);
      let finished = false;
      const removed = nodeA.namespace.remove('/empty').then(() => 'removed', (err: { code?: string }) => err.code ?? String(err)).finally(() => (finished = true));
      await until(async () => finished || (await waitingForLocks(nodeA)) >= 2);
      await holder.query('rollback');
      const outcomes = [await removed, await written];
      expect(await orphans(nodeA)).toEqual([]);
      // Whichever came first, the other saw it: never both done.
      expect([['FERRY_ERR_DIRECTORY_NOT_EMPTY', 'made'], ['removed', 'FERRY_ERR_NOT_FOUND']]).toContainEqual(outcomes);
    } finally {
      await holder.end().catch(() => undefined);
      await nodeA.close();
      await nodeB.close();
    }
  }, 60_000);

  it('a recursive delete of a large tree goes in steps: each commits, and no row is ever left without its folder', async () => {
    const url = await postgres.createDatabase();
    const nodeA = await MetaStore.openPostgres(url, { poolSize: 3 });
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      // More rows than a step takes, made in SQL (a mkdir each would take minutes here).
      const n = DELETE_STEP_ROWS + 50;
      await nodeA.namespace.mkdir('/huge');
      await holder.query(
        `insert into files (path, parent, name, name_fold, type, size, mtime, created_at, updated_at)
         select '/huge/d' || lpad(i::text, 6, '0'), '/huge', 'd' || lpad(i::text, 6, '0'), 'd' || lpad(i::text, 6, '0'), 'dir', 0, 0, 0, 0 from generate_series(1, $1::int) as i`,
        [n],
      );
      const count = async (): Promise<number> => (await holder.query<{ n: number }>(`select count(*)::int as n from files where path like '/huge%'`)).rows[0].n;
      // The test holds the lowest row (deleted by the last step, the folder's): the delete waits there.
      await holder.query('begin');
      await holder.query(`select path from files where path = '/huge/d000001' for update`);
      const removed = nodeA.namespace.remove('/huge', { recursive: true });
      await until(async () => (await waitingForLocks(nodeA)) >= 1);
      // Meanwhile the steps before it have committed: what is left is a whole tree, smaller.
      // In one transaction (as before), nothing was gone until the end.
      const left = await count();
      expect(left).toBeLessThanOrEqual(51);
      expect(left).toBeGreaterThan(0);
      expect(await orphans(nodeA)).toEqual([]);
      await holder.query('rollback');
      expect(await removed).toEqual({ files: 0, dirs: n + 1 });
      expect(await count()).toBe(0);
      expect(await orphans(nodeA)).toEqual([]);
    } finally {
      await holder.end().catch(() => undefined);
      await nodeA.close();
    }
  }, 120_000);
});
