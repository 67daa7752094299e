/**
 * The trash is listed in pages (GET /api/v1/trash?limit&cursor, `next` while more may
 * follow; `batch` for the files of one delete), the way directory listings page: a trash of more than maxListLimit (10,000)
 * entries used to answer its newest 10,000 with no way to reach the rest. The rows are
 * inserted through the store (copies of one real deleted file, its manifest's references
 * counted), on SQLite and on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { listTrash, listTrashPage } from '../../src/client/versions.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const EXTRA = 10_050;

interface Row {
  id: number;
  path: string;
}
const page = async (t: TestServer, query: string) => {
  const res = await t.api(`/api/v1/trash${query}`);
  return { status: res.status, body: (await res.json()) as { entries: Row[]; next?: string; error?: { code: string; message: string } } };
};

/** One file deleted through the API, then EXTRA copies of its trash row under /bulk. */
async function fill(t: TestServer): Promise<void> {
  expect((await t.api('/api/v1/files/first.txt', { method: 'PUT', body: 'kept in the trash' })).status).toBe(201);
  expect((await t.api('/api/v1/files/first.txt', { method: 'DELETE' })).status).toBe(204);
  const meta = t.server.ctx.meta;
  await meta.durable(async (trx) => {
    const row = await trx.selectFrom('trash').selectAll().executeTakeFirstOrThrow();
    const rows = Array.from({ length: EXTRA }, (_, i) => ({ batch: 'bulk', path: `/bulk/f${i}.txt`, manifest: row.manifest, size: row.size, mtime: row.mtime, mode: row.mode, deleted_at: row.deleted_at, deleted_by: null }));
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('trash').values(rows.slice(i, i + 500)).execute();
    await trx.updateTable('manifests').set((eb) => ({ refs: eb('refs', '+', EXTRA) })).where('hash', '=', row.manifest).execute();
  });
}

function suite(name: string, start: () => Promise<TestServer>, stop: () => Promise<void>) {
  describe(name, () => {
    let t: TestServer;
    beforeAll(async () => {
      t = await start();
      await fill(t);
    }, 120_000);
    afterAll(stop);

    it('answers the first 10,000 with a next, and the pages together hold every entry once, newest first', async () => {
      const first = await page(t, '');
      expect(first.status).toBe(200);
      expect(first.body.entries).toHaveLength(10_000);
      expect(first.body.next).toBeDefined();
      const all = await listTrash(new FerryClient({ server: t.url, token: t.token }));
      expect(all).toHaveLength(EXTRA + 1);
      expect(new Set(all.map((e) => e.id)).size).toBe(EXTRA + 1);
      expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((a, b) => b - a));
      // The oldest, the one deleted through the API, is on the last page.
      expect(all[all.length - 1].path).toBe('/first.txt');
    });

    it('pages with limit and cursor, under a path too, and the last page has no next', async () => {
      const client = new FerryClient({ server: t.url, token: t.token });
      const seen: number[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const p = await listTrashPage(client, '/bulk', { limit: 3000, cursor });
        expect(p.entries.length).toBeLessThanOrEqual(3000);
        seen.push(...p.entries.map((e) => e.id));
        cursor = p.next;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(4);
      expect(new Set(seen).size).toBe(EXTRA);
      expect(await listTrash(client, '/first.txt')).toHaveLength(1);
    });

    it('ferry trash ls lists every page', async () => {
      const dir = await tempDir('ferry-trash-paging-');
      try {
        const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token, FERRY_CONFIG: join(dir.path, 'config.json'), HOME: dir.path };
        const json = await runFerry(['trash', 'ls', '--json'], { env });
        expect(json.code, json.stderr).toBe(0);
        const list = JSON.parse(json.stdout) as Row[];
        expect(list).toHaveLength(EXTRA + 1);
        expect(list[list.length - 1].path).toBe('/first.txt');
        const table = await runFerry(['trash', 'ls', '/bulk'], { env });
        expect(table.code, table.stderr).toBe(0);
        expect(table.stdout).toContain('/bulk/f0.txt');
        expect(table.stdout).not.toContain('/first.txt');
        expect(table.stdout.trim().split('\n')).toHaveLength(EXTRA + 1);
      } finally {
        await dir.cleanup();
      }
    });

    it('refuses a bad limit or cursor with FERRY_ERR_VALIDATION', async () => {
      for (const q of ['?limit=0', '?limit=10001', '?limit=x', '?cursor=abc', '?cursor=0', '?cursor=-5']) {
        const r = await page(t, q);
        expect(r.status, q).toBe(400);
        expect(r.body.error?.code, q).toBe('FERRY_ERR_VALIDATION');
      }
    });

    it('lists the files of one delete (batch=B) across pages, and refuses a value that is not a batch', async () => {
      const client = new FerryClient({ server: t.url, token: t.token });
      const bulk = await listTrash(client, '/', { batch: 'bulk' });
      expect(bulk).toHaveLength(EXTRA);
      expect(bulk.every((e) => e.batch === 'bulk')).toBe(true);
      const first = await listTrashPage(client, '/', { batch: 'bulk', limit: 10 });
      expect([first.entries.length, first.next !== undefined]).toEqual([10, true]);
      const oldest = (await listTrash(client)).at(-1)!;
      expect((await listTrash(client, '/', { batch: oldest.batch })).map((e) => e.path)).toEqual(['/first.txt']);
      expect(await listTrash(client, '/', { batch: 'nosuchbatch' })).toEqual([]);
      for (const q of ['?batch=', '?batch=a%20b', '?batch=..%2Fx', `?batch=${'a'.repeat(65)}`]) {
        const r = await page(t, q);
        expect(r.status, q).toBe(400);
        expect(r.body.error?.code, q).toBe('FERRY_ERR_VALIDATION');
      }
    });

    it('restores an entry past the first 10,000 and empties all of it', async () => {
      const client = new FerryClient({ server: t.url, token: t.token });
      const all = await listTrash(client);
      const old = all[all.length - 1];
      const res = await t.api('/api/v1/trash/restore', { method: 'POST', json: { id: old.id } });
      expect(res.status).toBe(200);
      expect((await t.api('/api/v1/files/first.txt')).status).toBe(200);
      const emptied = await t.api('/api/v1/trash', { method: 'DELETE' });
      expect(((await emptied.json()) as { files: number }).files).toBe(EXTRA);
      expect(await listTrash(client)).toEqual([]);
    });
  });
}

let sqlite: TestServer | undefined;
suite(
  'trash paging (SQLite)',
  async () => (sqlite = await startTestServer({ trashDays: 7 })),
  async () => {
    await sqlite?.close();
  },
);

let pg: PostgresHandle | undefined;
let pgServer: TestServer | undefined;
suite(
  'trash paging (PostgreSQL)',
  async () => {
    pg = await startPostgres();
    return (pgServer = await startTestServer({ trashDays: 7, db: await pg.createDatabase(), sessionKey: randomBytes(32) }));
  },
  async () => {
    await pgServer?.close();
    await pg?.stop();
  },
);
