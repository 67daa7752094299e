/**
 * A share link acts for its owner with the owner's access as it is at each request (eleventh
 * security round): once an admin removes the owner's grant on the link's path, the link is
 * gone (`410`, as for a disabled owner), and its anonymous visitors are not told the owner's
 * path nor what the owner may no longer do there (it was a `403` naming `/team/x.txt`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'gil', { password: 'gil-password-123', grants: [{ path: '/', permissions: ['list'] }, { path: '/team', permissions: ['list', 'read', 'write', 'share'] }] });
  expect((await t.api('/api/v1/files/users/gil/team/x.txt', { method: 'PUT', body: 'team secret' })).status).toBe(201);
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('a share link whose owner lost access to its path', () => {
  it('is gone for its visitors (file, folder, zip, drop box), naming nothing of the owner', async () => {
    const token = (await tokenFor(t, 'gil')).token;
    const file = await share(t, token, { path: '/team/x.txt' });
    const folder = await share(t, token, { path: '/team' });
    const drop = await share(t, token, { path: '/team', kind: 'upload' });
    const visits = () => [
      fetch(`${file.url}?download=1`),
      fetch(folder.url, { headers: { accept: 'application/json' } }),
      fetch(`${folder.url}?download=zip`),
      fetch(`${drop.url}/from-visitor.txt`, { method: 'PUT', body: 'hello' }),
    ];
    const before = await Promise.all(visits());
    expect(before.map((r) => r.status)).toEqual([200, 200, 200, 201]);
    for (const r of before) await r.arrayBuffer();

    expect((await t.api('/api/v1/users/gil/grants', { method: 'PUT', json: { path: '/team', permissions: [] } })).status).toBe(200);
    for (const r of await Promise.all(visits())) {
      const text = await r.text();
      expect(r.status, text).toBe(410);
      expect(text).not.toContain('/team');
      expect(text).not.toContain('permission');
    }
    // The admin can still reach the file; nothing came of the refused drop.
    expect((await t.api('/api/v1/files/users/gil/team/x.txt')).status).toBe(200);
    expect((await t.api('/api/v1/files/users/gil/team/from-visitor%20(2).txt')).status).toBe(404);
  });
});
