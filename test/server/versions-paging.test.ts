/**
 * A file's old versions are listed in pages (GET /api/v1/versions/PATH?limit&cursor, `next`
 * while more may follow), as the trash and directory listings are: the list used to come
 * back whole, however many versions a file had. The CLI (`ferry versions`) and the web app
 * (through the client's versionList) follow every page. The versions are two real
 * overwrites and EXTRA copies of one of their rows inserted through the store (its
 * manifest's references counted), on SQLite and on PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { versionList, versionListPage } from '../../src/client/versions.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

const EXTRA = 10_050;
const VERSIONS = { keep: 0, days: 30, paths: {} };

interface Row {
  id: number;
  size: number;
}
const page = async (t: TestServer, query: string) => {
  const res = await t.api(`/api/v1/versions/doc.txt${query}`);
  return { status: res.status, body: (await res.json()) as { path: string; versions: Row[]; policy?: { enabled: boolean }; next?: string; error?: { code: string } } };
};

/** doc.txt written three times (two real versions: 'first' and 'second!'), then EXTRA copies of the newer one's row. */
async function fill(t: TestServer): Promise<void> {
  for (const body of ['first', 'second!', 'current now']) expect((await t.api('/api/v1/files/doc.txt', { method: 'PUT', body })).status).toBe(201);
  const meta = t.server.ctx.meta;
  await meta.durable(async (trx) => {
    const row = await trx.selectFrom('versions').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
    const rows = Array.from({ length: EXTRA }, () => ({ path: row.path, manifest: row.manifest, size: row.size, mtime: row.mtime, mode: row.mode, replaced_at: row.replaced_at, created_at: row.created_at }));
    for (let i = 0; i < rows.length; i += 500) await trx.insertInto('versions').values(rows.slice(i, i + 500)).execute();
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

    it('answers the first 10,000 with a next, and the pages together hold every version once, newest first', async () => {
      const first = await page(t, '');
      expect(first.status).toBe(200);
      expect(first.body.versions).toHaveLength(10_000);
      expect(first.body.next).toBeDefined();
      expect(first.body.policy?.enabled).toBe(true);
      const all = await versionList(new FerryClient({ server: t.url, token: t.token }), '/doc.txt');
      expect(all.versions).toHaveLength(EXTRA + 2);
      expect(all.next).toBeUndefined();
      expect(all.policy?.enabled).toBe(true);
      expect(new Set(all.versions.map((v) => v.id)).size).toBe(EXTRA + 2);
      expect(all.versions.map((v) => v.id)).toEqual([...all.versions.map((v) => v.id)].sort((a, b) => b - a));
      // The oldest, the first content, is on the last page.
      expect(all.versions[all.versions.length - 1].size).toBe('first'.length);
    });

    it('pages with limit and cursor, the last page without next; the oldest version downloads from there', async () => {
      const client = new FerryClient({ server: t.url, token: t.token });
      const seen: Row[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const p = await versionListPage(client, '/doc.txt', { limit: 3000, cursor });
        expect(p.versions.length).toBeLessThanOrEqual(3000);
        seen.push(...p.versions);
        cursor = p.next;
        pages++;
      } while (cursor !== undefined);
      expect(pages).toBe(4);
      expect(new Set(seen.map((v) => v.id)).size).toBe(EXTRA + 2);
      const oldest = seen[seen.length - 1];
      expect(await (await t.api(`/api/v1/files/doc.txt?version=${oldest.id}`)).text()).toBe('first');
    });

    it('ferry versions lists every page', async () => {
      const dir = await tempDir('ferry-versions-paging-');
      try {
        const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token, FERRY_CONFIG: join(dir.path, 'config.json'), HOME: dir.path };
        const json = await runFerry(['versions', '/doc.txt', '--json'], { env });
        expect(json.code, json.stderr).toBe(0);
        const list = JSON.parse(json.stdout) as Row[];
        expect(list).toHaveLength(EXTRA + 2);
        expect(list[list.length - 1].size).toBe('first'.length);
        const table = await runFerry(['versions', '/doc.txt'], { env });
        expect(table.code, table.stderr).toBe(0);
        expect(table.stdout.trim().split('\n')).toHaveLength(EXTRA + 3);
      } finally {
        await dir.cleanup();
      }
    });

    it('refuses a bad limit or cursor with FERRY_ERR_VALIDATION; a missing file is still a 404', async () => {
      for (const q of ['?limit=0', '?limit=10001', '?limit=x', '?cursor=abc', '?cursor=0', '?cursor=-5']) {
        const r = await page(t, q);
        expect(r.status, q).toBe(400);
        expect(r.body.error?.code, q).toBe('FERRY_ERR_VALIDATION');
      }
      expect((await t.api('/api/v1/versions/none.txt?limit=5')).status).toBe(404);
    });
  });
}

let sqlite: TestServer | undefined;
suite(
  'versions paging (SQLite)',
  async () => (sqlite = await startTestServer({ versions: VERSIONS })),
  async () => {
    await sqlite?.close();
  },
);

let pg: PostgresHandle | undefined;
let pgServer: TestServer | undefined;
suite(
  'versions paging (PostgreSQL)',
  async () => {
    pg = await startPostgres();
    return (pgServer = await startTestServer({ versions: VERSIONS, db: await pg.createDatabase(), sessionKey: randomBytes(32) }));
  },
  async () => {
    await pgServer?.close();
    await pg?.stop();
  },
);
