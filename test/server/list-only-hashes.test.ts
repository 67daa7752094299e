/**
 * A grant that gives `list` but not `read` shows names, sizes and times, never a file's
 * content hash: the hash (or the WebDAV ETag cut from it) confirms a guess of what a file
 * holds (a known document, a form with one figure changed) without reading it. Before the
 * fix `GET /api/v1/stat` and `/list`, the trash listing and WebDAV's getetag showed it, and a
 * WebDAV If-Match naming the right ETag let a write through where a wrong one was 412.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Entry } from '../../src/core/protocol.js';
import { basic, dav, multistatus, propfindNamed } from '../helpers/dav.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let token: string;
let hash: string;
const secret = randomBytes(3000);

const as = (path: string, init: RequestInit & { json?: unknown } = {}) => t.api(path, { ...init, token });

beforeAll(async () => {
  t = await startTestServer({ trashDays: 7 });
  await addUser(t, 'lee', {
    grants: [
      { path: '/', permissions: ['list', 'read', 'write', 'delete', 'mkdir'] },
      { path: '/payroll', permissions: ['list', 'write', 'delete'] },
    ],
  });
  token = (await tokenFor(t, 'lee')).token;
  for (const p of ['/users/lee/payroll/sheet.bin', '/users/lee/payroll/old.bin', '/users/lee/mine.bin']) {
    expect((await uploadBuffer(t, p, secret)).status).toBe(200);
  }
  hash = ((await (await t.api('/api/v1/stat/users/lee/payroll/sheet.bin')).json()) as Entry).hash!;
  expect(hash).toMatch(/^[0-9a-f]{64}$/);
});
afterAll(async () => t?.close());

describe('list without read: no content hash', () => {
  it('stat and list show names and sizes, not the hash; readable files keep theirs', async () => {
    const stat = (await (await as('/api/v1/stat/payroll/sheet.bin')).json()) as Entry;
    expect(stat).toMatchObject({ name: 'sheet.bin', size: secret.length });
    expect(stat.hash).toBeUndefined();
    const list = (await (await as('/api/v1/list/payroll')).json()) as { entries: Entry[] };
    expect(list.entries.map((e) => e.name).sort()).toEqual(['old.bin', 'sheet.bin']);
    for (const e of list.entries) expect(e.hash).toBeUndefined();
    const all = (await (await as('/api/v1/list?recursive=true')).json()) as { entries: Entry[] };
    expect(all.entries.find((e) => e.path === '/payroll/sheet.bin')?.hash).toBeUndefined();
    expect(all.entries.find((e) => e.path === '/mine.bin')?.hash).toBe(hash);
    expect(((await (await as('/api/v1/stat/mine.bin')).json()) as Entry).hash).toBe(hash);
  });

  it('the trash shows no hash of what was deleted from there', async () => {
    expect((await as('/api/v1/files/payroll/old.bin', { method: 'DELETE' })).status).toBe(204);
    const trash = (await (await as('/api/v1/trash')).json()) as { entries: { path: string; hash?: string }[] };
    const old = trash.entries.find((e) => e.path === '/payroll/old.bin');
    expect(old).toBeDefined();
    expect(old!.hash).toBeUndefined();
  });

  it('WebDAV: no getetag, and an If-Match with the right ETag is refused as a wrong one', async () => {
    const etag = `"${hash.slice(0, 32)}"`;
    const pf = await dav(t.url, 'PROPFIND', '/dav/payroll/', { auth: basic('lee', token), headers: { depth: '1' }, body: propfindNamed(['DAV:', 'getetag'], ['DAV:', 'getcontentlength']) });
    expect(pf.status).toBe(207);
    expect(pf.text).not.toContain(hash.slice(0, 32));
    const sheet = multistatus(pf.text).find((r) => r.href.endsWith('/sheet.bin'))!;
    expect(sheet.props.getcontentlength.text).toBe(String(secret.length));
    expect(sheet.props.getetag.status).toBe(404);
    const mine = multistatus((await dav(t.url, 'PROPFIND', '/dav/mine.bin', { auth: basic('lee', token), headers: { depth: '0' }, body: propfindNamed(['DAV:', 'getetag']) })).text);
    expect(mine[0].props.getetag.text).toBe(etag);

    const right = await dav(t.url, 'PUT', '/dav/payroll/sheet.bin', { auth: basic('lee', token), headers: { 'if-match': etag }, body: 'x' });
    const wrong = await dav(t.url, 'PUT', '/dav/payroll/sheet.bin', { auth: basic('lee', token), headers: { 'if-match': `"${'0'.repeat(32)}"` }, body: 'x' });
    expect(wrong.status).toBe(412);
    expect(right.status).toBe(412);
    // Untouched.
    const now = (await (await t.api('/api/v1/stat/users/lee/payroll/sheet.bin')).json()) as Entry;
    expect(now.hash).toBe(hash);
  });
});
