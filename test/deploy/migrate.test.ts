/**
 * `ferry admin migrate`: a populated single-node installation (SQLite) moved to PostgreSQL,
 * then served by `ferry serve --db` from the same data directory: every file reads back byte
 * for byte, users and their tokens still work, and new writes (audit entries with serial
 * ids among them) go on after the copied rows.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startTestServer, uploadBuffer, sha256 } from '../helpers/in-process-server.js';
import { startPostgres, type PostgresHandle } from '../helpers/postgres.js';
import { startServer } from '../helpers/server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let postgres: PostgresHandle;
beforeAll(async () => {
  postgres = await startPostgres();
});
afterAll(async () => {
  await postgres?.stop();
});

describe('ferry admin migrate --from sqlite:… --to postgres://…', () => {
  it('moves every file, user and token, and the server goes on from there', async () => {
    const t = await startTestServer();
    const dataDir = t.dataDir;
    const files = new Map<string, Buffer>();
    try {
      await addUser(t, 'ana', { home: '/home/ana' });
      const ana = await tokenFor(t, 'ana');
      const names = ['/a.txt', '/dir/b.bin', '/dir/sub/ünïcødé 😀.txt', '/big.bin'];
      for (const [i, name] of names.entries()) {
        const data = randomBytes(name === '/big.bin' ? 3 * 1024 * 1024 : 1000 + i);
        expect((await uploadBuffer(t, name, data, 256 * 1024)).status).toBe(200);
        files.set(name, data);
      }
      const anas = randomBytes(5000);
      expect((await uploadBuffer(t, '/mine.txt', anas, 1024, { token: ana.token })).status).toBe(200);
      files.set('/home/ana/mine.txt', anas);
      await t.server.close();

      const url = await postgres.createDatabase();
      const migrated = await runFerry(['admin', 'migrate', '--from', `sqlite:${join(dataDir, 'meta.db')}`, '--to', url]);
      expect(migrated.stderr).toMatch(/files: \d+ rows/);
      // One user besides the admin, with the one default grant: "1 row", not "1 rows".
      expect(migrated.stderr).toMatch(/^grants: 1 row$/m);
      expect(migrated.stdout).toMatch(/^copied \d+ rows in \d+ tables into postgres:\/\//);
      expect(migrated.code).toBe(0);
      // Never into a database that has data.
      const again = await runFerry(['admin', 'migrate', '--from', `sqlite:${join(dataDir, 'meta.db')}`, '--to', url]);
      expect(again.code).toBe(2);
      expect(again.stderr).toMatch(/not empty/);

      // A password in the URL (the test cluster trusts any) is never shown: not in the ready line.
      const withPassword = url.replace('postgres://postgres@', 'postgres://postgres:not-to-be-shown@');
      expect(withPassword).not.toBe(url);
      const node = await startServer({
        dataDir,
        adminToken: t.token,
        env: { FERRY_SESSION_KEY: (await readFile(join(dataDir, 'session-key'), 'utf8')).trim() },
        extraArgs: ['--db', withPassword],
      });
      try {
        expect(node.ready.db).toBe(url.replace('postgres://postgres@', 'postgres://postgres:***@'));
        expect(node.output()).not.toContain('not-to-be-shown');
        const get = (path: string, token = t.token) => fetch(`${node.url}/api/v1/files${path.split('/').map(encodeURIComponent).join('/')}`, { headers: { authorization: `Bearer ${token}` } });
        for (const [path, data] of files) {
          const r = await get(path);
          expect(r.status, path).toBe(200);
          expect(sha256(Buffer.from(await r.arrayBuffer())), path).toBe(sha256(data));
        }
        // Ana's token, made on SQLite, opens her home on PostgreSQL.
        const mine = await get('/mine.txt', ana.token);
        expect(mine.status).toBe(200);
        expect(Buffer.compare(Buffer.from(await mine.arrayBuffer()), anas)).toBe(0);
        // New writes go on after the copied rows (audit ids, sessions, files).
        const more = randomBytes(777);
        const ts = { server: node, url: node.url, token: t.token, dataDir, api: (p: string, init: RequestInit & { json?: unknown; token?: string | null } = {}) => {
          const headers = new Headers(init.headers);
          headers.set('authorization', `Bearer ${init.token ?? t.token}`);
          if (init.json !== undefined) headers.set('content-type', 'application/json');
          return fetch(node.url + p, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
        } };
        expect((await uploadBuffer(ts as never, '/after.bin', more, 256)).status).toBe(200);
        const audit = (await (await ts.api('/api/v1/admin/audit?event=upload&limit=100')).json()) as { entries: { path: string }[] };
        expect(audit.entries.map((e) => e.path)).toEqual(expect.arrayContaining(['/after.bin', '/big.bin']));
      } finally {
        await node.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
