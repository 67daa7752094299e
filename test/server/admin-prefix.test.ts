/**
 * An admin token narrowed to a path prefix keeps its admin's file operations inside the
 * prefix and none of the server-wide ones (security audit, tenth round): every route of the
 * admin API (`/api/v1/admin/...`, `/api/v1/users...`) and the admin's view of other users'
 * tokens and links answer 403 FERRY_ERR_FORBIDDEN, as backups and webhooks did, and nothing
 * changes. Before, such a token read the audit log and the users and disabled, demoted,
 * deleted and narrowed accounts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_SPECS } from '../../src/server/api-schemas.js';
import type { UserInfo } from '../../src/core/protocol.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let narrowed = '';
let full = '';

/** Every server-wide admin route, with a request that would change something if let through. */
const ADMIN_ROUTES: Record<string, { path: string; json?: unknown }> = {
  'GET /api/v1/users': { path: '/api/v1/users' },
  'POST /api/v1/users': { path: '/api/v1/users', json: { name: 'mallory' } },
  'GET /api/v1/users/:name': { path: '/api/v1/users/bob' },
  'PATCH /api/v1/users/:name': { path: '/api/v1/users/bob', json: { disabled: true, role: 'user', quotaBytes: 1 } },
  'DELETE /api/v1/users/:name': { path: '/api/v1/users/bob' },
  'PUT /api/v1/users/:name/password': { path: '/api/v1/users/bob/password', json: { password: 'a fresh long password 1' } },
  'PUT /api/v1/users/:name/grants': { path: '/api/v1/users/bob/grants', json: { path: '/', permissions: [] } },
  'GET /api/v1/users/:name/keys': { path: '/api/v1/users/bob/keys' },
  'DELETE /api/v1/users/:name/keys/:id': { path: '/api/v1/users/bob/keys/nokey' },
  'GET /api/v1/admin/stats': { path: '/api/v1/admin/stats' },
  'POST /api/v1/admin/gc': { path: '/api/v1/admin/gc', json: {} },
  'GET /api/v1/admin/audit': { path: '/api/v1/admin/audit' },
  'GET /api/v1/admin/bans': { path: '/api/v1/admin/bans' },
  'DELETE /api/v1/admin/bans/:ip': { path: '/api/v1/admin/bans/192.0.2.1' },
  'POST /api/v1/admin/sweep': { path: '/api/v1/admin/sweep', json: {} },
  'GET /api/v1/admin/uploads': { path: '/api/v1/admin/uploads' },
  'DELETE /api/v1/admin/uploads/:id': { path: '/api/v1/admin/uploads/nosuchupload' },
  'POST /api/v1/admin/backup': { path: '/api/v1/admin/backup', json: { dir: '/tmp/ferry-admin-prefix-never' } },
  'POST /api/v1/admin/check': { path: '/api/v1/admin/check', json: {} },
  'POST /api/v1/admin/webhooks': { path: '/api/v1/admin/webhooks', json: { url: 'http://127.0.0.1:9/x', events: ['upload'] } },
  'GET /api/v1/admin/webhooks': { path: '/api/v1/admin/webhooks' },
  'DELETE /api/v1/admin/webhooks/:id': { path: '/api/v1/admin/webhooks/nohook' },
  'GET /api/v1/admin/webhook-deliveries': { path: '/api/v1/admin/webhook-deliveries?webhook=nohook' },
};

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'bob', { role: 'admin', password: 'bobs long password 1' });
  full = (await tokenFor(t, 'admin', { name: 'full' })).token;
  narrowed = (await tokenFor(t, 'admin', { name: 'pub only', pathPrefix: '/pub', scopes: ['list', 'read', 'write', 'delete', 'share', 'admin'] })).token;
});
afterAll(async () => {
  await t?.close();
});

async function refused(res: Response): Promise<void> {
  const text = await res.text();
  expect(res.status, text).toBe(403);
  expect(JSON.parse(text).error).toMatchObject({ code: 'FERRY_ERR_FORBIDDEN', message: expect.stringMatching(/without a path prefix/) });
}

describe('an admin token narrowed to a path prefix', () => {
  it('covers every admin route of the API in this test', () => {
    const admin = Object.keys(ROUTE_SPECS).filter((k) => / \/api\/v1\/(admin\/|users)/.test(k) && k !== 'POST /api/v1/users/:name/keys');
    expect(admin.sort()).toEqual(Object.keys(ADMIN_ROUTES).sort());
  });

  for (const [route, { path, json }] of Object.entries(ADMIN_ROUTES)) {
    it(`is refused ${route}`, async () => {
      await refused(await t.api(path, { method: route.split(' ')[0], json, token: narrowed }));
    });
  }

  it("is refused other users' tokens, links and SSH keys", async () => {
    await refused(await t.api('/api/v1/tokens?all=1', { token: narrowed }));
    await refused(await t.api('/api/v1/tokens?user=bob', { token: narrowed }));
    await refused(await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'for bob', user: 'bob' }, token: narrowed }));
    await refused(await t.api('/api/v1/shares?all=1', { token: narrowed }));
    await refused(await t.api('/api/v1/users/bob/keys', { method: 'POST', json: { keys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x' }, token: narrowed }));
  });

  it('changed nothing: bob is still an enabled admin with no quota', async () => {
    const res = await t.api('/api/v1/users/bob', { token: full });
    expect(res.status).toBe(200);
    const bob = (await res.json()) as UserInfo;
    expect(bob).toMatchObject({ name: 'bob', role: 'admin', disabled: false });
    expect(bob.quotaBytes).toBeNull();
    expect(((await (await t.api('/api/v1/users', { token: full })).json()) as UserInfo[]).map((u) => u.name)).not.toContain('mallory');
  });

  it('keeps its file operations inside the prefix, and nothing outside', async () => {
    const put = await t.api('/api/v1/files/pub/a.txt', { method: 'PUT', body: 'inside', token: narrowed });
    expect(put.status, await put.clone().text()).toBeLessThan(300);
    const got = await t.api('/api/v1/files/pub/a.txt', { token: narrowed });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('inside');
    expect((await t.api('/api/v1/list/pub', { token: narrowed })).status).toBe(200);
    expect((await t.api('/api/v1/list/', { token: narrowed })).status).toBe(403);
  });

  it('the same routes answer an admin token without a prefix', async () => {
    for (const path of ['/api/v1/users', '/api/v1/admin/audit', '/api/v1/admin/stats', '/api/v1/tokens?all=1', '/api/v1/shares?all=1']) {
      const res = await t.api(path, { token: full });
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
    }
  });
});
