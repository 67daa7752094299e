/**
 * `GET /api/v1/list/*?recursive=true&digest=true` (feature `list-digest`) against a real
 * server: the digest of exactly the recursive listing the caller would get (core/tree-digest.ts),
 * across pages, names out of UTF-16 order and per-path grants; clear errors otherwise.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Capabilities, ListResponse } from '../../src/core/protocol.js';
import { EMPTY_TREE_DIGEST, treeDigestOf } from '../../src/core/tree-digest.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { expectError } from '../helpers/error-response.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});


const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');

/** The digest of what the caller's recursive listing of `dir` holds, page by page. */
async function digestOfListing(dir: string, token?: string): Promise<string> {
  const files = new Map<string, { size: number; mtime: number }>();
  const dirs: string[] = [];
  let cursor: string | undefined;
  do {
    const page = (await (await t.api(`/api/v1/list${enc(dir)}?recursive=true&limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, { token })).json()) as ListResponse;
    for (const e of page.entries) {
      const rel = e.path.slice(dir === '/' ? 1 : dir.length + 1);
      if (e.type === 'dir') dirs.push(rel);
      else files.set(rel, { size: e.size, mtime: e.mtime });
    }
    cursor = page.next;
  } while (cursor);
  return treeDigestOf(files, dirs);
}

async function digest(dir: string, token?: string): Promise<string> {
  const res = await t.api(`/api/v1/list${enc(dir)}?recursive=true&digest=true`, { token });
  expect(res.status).toBe(200);
  const body = (await res.json()) as ListResponse;
  expect(body.entries).toEqual([]);
  return body.digest!;
}

describe('listing digests', () => {
  it('are announced, and are the digest of the caller’s recursive listing', async () => {
    const caps = (await (await t.api('/api/v1/capabilities', { token: null })).json()) as Capabilities;
    expect(caps.features).toContain('list-digest');
    const names = ['a.txt', 'sub/b', 'sub/\u{1F600} smile', 'sub/\uFB01le', 'sub/deeper/c', 'a-b/x', 'z'];
    for (const [i, n] of names.entries()) expect((await uploadBuffer(t, `/dg/${n}`, randomBytes(10 + i), 1024)).status).toBe(200);
    expect((await t.api('/api/v1/mkdir/dg/empty', { method: 'POST' })).status).toBe(201);
    const first = await digest('/dg');
    expect(first).toBe(await digestOfListing('/dg'));
    expect(await digest('/dg/sub')).toBe(await digestOfListing('/dg/sub'));
    expect(await digest('/')).toBe(await digestOfListing('/'));
    // Another size: another digest, again the listing's.
    expect((await uploadBuffer(t, '/dg/sub/b', randomBytes(99), 1024)).status).toBe(200);
    const second = await digest('/dg');
    expect(second).not.toBe(first);
    expect(second).toBe(await digestOfListing('/dg'));
    expect((await t.api('/api/v1/mkdir/dg/empty2', { method: 'POST' })).status).toBe(201);
    expect(await digest('/dg')).not.toBe(second);
    expect((await t.api('/api/v1/mkdir/dg-none', { method: 'POST' })).status).toBe(201);
    expect(await digest('/dg-none')).toBe(EMPTY_TREE_DIGEST);
  });

  it('leave out what the listing leaves out: sub-trees whose grant withholds list', async () => {
    await addUser(t, 'erin', { grants: [{ path: '/', permissions: ['list', 'read', 'write', 'mkdir'] }, { path: '/closed', permissions: ['read'] }] });
    const erin = (await tokenFor(t, 'erin')).token;
    for (const p of ['/users/erin/open/a', '/users/erin/closed/b', '/users/erin/closed/c']) expect((await uploadBuffer(t, p, randomBytes(5), 1024)).status).toBe(200);
    const asErin = await digest('/', erin);
    expect(asErin).toBe(await digestOfListing('/', erin));
    // The admin sees erin's closed files; erin's digest does not count them.
    expect(await digest('/users/erin')).not.toBe(asErin);
  });

  it('refuse what they cannot answer: no recursive, pages, chunk lists, a file, nothing there', async () => {
    expect((await uploadBuffer(t, '/dgerr/f', randomBytes(3), 1024)).status).toBe(200);
    await expectError(await t.api('/api/v1/list/dgerr?digest=true'), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/list/dgerr?digest=true&recursive=true&limit=5'), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/list/dgerr?digest=true&recursive=true&chunks=true'), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/list/dgerr?digest=maybe&recursive=true'), 400, 'FERRY_ERR_VALIDATION');
    await expectError(await t.api('/api/v1/list/dgerr/f?digest=true&recursive=true'), 409, 'FERRY_ERR_NOT_A_DIRECTORY');
    await expectError(await t.api('/api/v1/list/dgerr/missing?digest=true&recursive=true'), 404, 'FERRY_ERR_NOT_FOUND');
    await expectError(await t.api('/api/v1/list/dgerr?digest=true&recursive=true', { token: null }), 401, 'FERRY_ERR_AUTH_REQUIRED');
  });
});
