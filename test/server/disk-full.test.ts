/**
 * A data directory whose disk fills up: the metadata database cannot grow. SQLite rolls the
 * transaction back by itself then; the client must be told `507 FERRY_ERR_NO_SPACE` (not a
 * 500), nothing half-written may show, and the server must serve again once there is room.
 * The full disk is `PRAGMA max_page_count` on the server's own connection: SQLite raises the
 * same SQLITE_FULL as for a full file system (checked by hand on a 6 MiB tmpfs).
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';

describe('a full metadata disk', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => {
    await t.close();
  });

  const pageCount = async (): Promise<number> => {
    const { rows } = await sql<{ page_count: number }>`PRAGMA page_count`.execute(t.server.ctx.meta.db);
    return rows[0]!.page_count;
  };
  const setMaxPages = (n: number) => sql.raw(`PRAGMA max_page_count = ${n}`).execute(t.server.ctx.meta.db);

  it('uploads are refused 507 FERRY_ERR_NO_SPACE, none half there; with room again they go through', async () => {
    expect((await t.api('/api/v1/files/before', { method: 'PUT', body: randomBytes(1000) })).status).toBe(201);
    await setMaxPages(await pageCount());
    const refused: { name: string; status: number; code: string }[] = [];
    for (let i = 0; i < 200 && refused.length === 0; i++) {
      const name = `f${i}-${'x'.repeat(200)}`;
      const res = await t.api(`/api/v1/files/${name}`, { method: 'PUT', body: randomBytes(70_000) });
      if (res.status !== 201) refused.push({ name, status: res.status, code: ((await res.json()) as { error: { code: string } }).error.code });
    }
    expect(refused).toEqual([{ name: expect.any(String), status: 507, code: 'FERRY_ERR_NO_SPACE' }]);
    expect((await t.api(`/api/v1/files/${refused[0]!.name}`)).status).toBe(404);
    expect((await t.api('/readyz')).status).toBe(200);

    await setMaxPages(1_000_000_000);
    const body = randomBytes(70_000);
    expect((await t.api(`/api/v1/files/${refused[0]!.name}`, { method: 'PUT', body })).status).toBe(201);
    expect(Buffer.from(await (await t.api(`/api/v1/files/${refused[0]!.name}`)).arrayBuffer()).equals(body)).toBe(true);
    expect((await t.api('/api/v1/files/before')).status).toBe(200);
  });
});
