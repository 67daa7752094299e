/**
 * `DELETE /api/v1/trash` by an admin, whose root holds every user's home: a path that holds
 * (or is inside) another user's home takes `allUsers=true`, as `ferry trash empty
 * --all-users` does; without it (no path, or the `path=/` an older CLI sends) the call is
 * refused with 400 FERRY_ERR_ALL_USERS_REQUIRED and nothing is deleted. A user's own call,
 * and an admin's on a folder of their own, are as before.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let ana: string;
let root2: string;

/** Puts a file at `path` (the caller's) and deletes it: one trash entry. */
async function trashed(path: string, token = t.token): Promise<void> {
  expect((await t.api(`/api/v1/files${path}`, { method: 'PUT', body: 'x', token })).status).toBe(201);
  expect((await t.api(`/api/v1/files${path}`, { method: 'DELETE', token })).status).toBe(204);
}

/** The server paths in the trash (the built-in admin's root is the server's). */
async function trashPaths(): Promise<string[]> {
  const r = await t.api('/api/v1/trash');
  return ((await r.json()) as { entries: { path: string }[] }).entries.map((e) => e.path).sort();
}

async function empty(query: string, token = t.token): Promise<{ status: number; body: { files?: number; error?: { code: string; message: string; details?: unknown } } }> {
  const r = await t.api(`/api/v1/trash${query}`, { method: 'DELETE', token });
  return { status: r.status, body: (await r.json()) as never };
}

beforeAll(async () => {
  t = await startTestServer({ trashDays: 7 });
  await addUser(t, 'ana', { password: 'ana-password-1' });
  await addUser(t, 'root2', { password: 'root2-password', role: 'admin' });
  ana = (await tokenFor(t, 'ana')).token;
  root2 = (await tokenFor(t, 'root2')).token;
});
afterAll(async () => {
  await t?.close();
});

describe('DELETE /api/v1/trash: other users take allUsers=true', () => {
  it('an admin without it, with no path or the path=/ an older CLI sends: 400 naming the users, nothing deleted', async () => {
    await trashed('/f.txt', ana);
    await trashed('/mine/a.txt');
    for (const query of ['', '?path=/', '?path=%2F&allUsers=false', '?path=/users', '?path=/users/ana/sub']) {
      const r = await empty(query);
      expect(r.status, query).toBe(400);
      expect(r.body.error?.code, query).toBe('FERRY_ERR_ALL_USERS_REQUIRED');
      expect(r.body.error?.message, query).toMatch(/holds the home of \d other users? \((ana|ana, root2|root2, ana)\).*add allUsers=true/);
    }
    expect(await trashPaths()).toEqual(['/mine/a.txt', '/users/ana/f.txt']);
  });

  it('a value other than true or false is a validation error', async () => {
    const r = await empty('?allUsers=yes');
    expect(r.status).toBe(400);
    expect(r.body.error?.code).toBe('FERRY_ERR_VALIDATION');
  });

  it("an admin's own folder, a user's own trash and another admin's own root need nothing", async () => {
    expect(await empty('?path=/mine')).toEqual({ status: 200, body: { files: 1 } });
    // root2's root is its home, /users/root2: the built-in admin (home /) is no user of it.
    await trashed('/r.txt', root2);
    expect(await empty('', root2)).toEqual({ status: 200, body: { files: 1 } });
    await trashed('/g.txt', ana);
    expect(await empty('?path=/g.txt', ana)).toEqual({ status: 200, body: { files: 1 } });
    expect(await trashPaths()).toEqual(['/users/ana/f.txt']);
  });

  it('allUsers=true empties everyone\'s', async () => {
    await trashed('/h.txt');
    expect(await empty('?allUsers=true')).toEqual({ status: 200, body: { files: 2 } });
    expect(await trashPaths()).toEqual([]);
  });
});
