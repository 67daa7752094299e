/**
 * A password change ends what the old password opened: web sessions, and the API tokens
 * password logins made (`POST /api/v1/auth/login`, `ferry login`) but the one that made the
 * change; named API tokens stay (as GitHub keeps personal access tokens). An admin setting
 * the password ends the same, all of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedToken, UserInfo } from '../../src/core/protocol.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, tokenFor } from '../helpers/users.js';

let t: TestServer;

async function passwordLogin(password: string): Promise<string> {
  const res = await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'pat', password }, token: null });
  expect(res.status, await res.clone().text()).toBe(201);
  return ((await res.json()) as CreatedToken).token;
}

async function works(token: string): Promise<boolean> {
  const status = (await t.api('/api/v1/me', { token })).status;
  expect([200, 401]).toContain(status);
  return status === 200;
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'pat', { password: 'first-password-1' });
});
afterAll(async () => {
  await t?.close();
});

describe('a password change and API tokens', () => {
  it("ends the tokens password logins made, but the one that changed it; named tokens stay", async () => {
    const laptop = await passwordLogin('first-password-1');
    const stolen = await passwordLogin('first-password-1');
    const named = (await tokenFor(t, 'pat', { name: 'backup script' })).token;
    // A token a login token made is a named token too.
    const child = (await (await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'ci' }, token: laptop })).json()) as CreatedToken;

    const change = await t.api('/api/v1/me/password', { method: 'POST', json: { currentPassword: 'first-password-1', newPassword: 'second-password-2' }, token: laptop });
    expect(change.status, await change.clone().text()).toBe(204);
    expect(await works(stolen)).toBe(false);
    expect(await works(laptop)).toBe(true);
    expect(await works(named)).toBe(true);
    expect(await works(child.token)).toBe(true);
    const [entry] = await auditEvents(t, 'event=user.password');
    expect(entry.details).toMatchObject({ loginTokensRevoked: 1 });

    // The admin sets it: every login token ends, named ones stay.
    const again = await passwordLogin('second-password-2');
    expect((await t.api('/api/v1/users/pat/password', { method: 'PUT', json: { password: 'third-password-3' } })).status).toBe(204);
    expect(await works(laptop)).toBe(false);
    expect(await works(again)).toBe(false);
    expect(await works(named)).toBe(true);
    expect(await works(child.token)).toBe(true);
    expect(await works(await passwordLogin('third-password-3'))).toBe(true);
  });
});

describe('a password and a token that expires', () => {
  it('a token that expires sets no first password (it would outlive the token); one that does not expire may', async () => {
    await addUser(t, 'quinn');
    const expiring = (await tokenFor(t, 'quinn', { expiresInSeconds: 3600 })).token;
    const refused = await t.api('/api/v1/me/password', { method: 'POST', json: { newPassword: 'quinn-password-1' }, token: expiring });
    expect(refused.status).toBe(403);
    const err = ((await refused.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('FERRY_ERR_FORBIDDEN');
    expect(err.message).toContain('does not expire');
    const login = await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'quinn', password: 'quinn-password-1' }, token: null });
    expect(login.status).toBe(401);

    const lasting = (await tokenFor(t, 'quinn')).token;
    expect((await t.api('/api/v1/me/password', { method: 'POST', json: { newPassword: 'quinn-password-1' }, token: lasting })).status).toBe(204);
    expect((await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'quinn', password: 'quinn-password-1' }, token: null })).status).toBe(201);
  });

  it('a token that expires still changes a password when the current one is given', async () => {
    await addUser(t, 'rue', { password: 'rue-password-1' });
    const expiring = (await tokenFor(t, 'rue', { expiresInSeconds: 3600 })).token;
    expect((await t.api('/api/v1/me/password', { method: 'POST', json: { newPassword: 'rue-password-2' }, token: expiring })).status).toBe(400);
    expect((await t.api('/api/v1/me/password', { method: 'POST', json: { currentPassword: 'rue-password-1', newPassword: 'rue-password-2' }, token: expiring })).status).toBe(204);
    expect((await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'rue', password: 'rue-password-2' }, token: null })).status).toBe(201);
  });
});

describe("an admin's token that expires or is narrowed", () => {
  async function adminToken(spec: { expiresInSeconds?: number; pathPrefix?: string; scopes?: string[] }): Promise<string> {
    await addUser(t, 'ops', { role: 'admin' }).catch(() => undefined);
    return (await tokenFor(t, 'ops', spec)).token;
  }

  async function refused(res: Response, words: string): Promise<void> {
    expect(res.status, await res.clone().text()).toBe(403);
    const err = ((await res.json()) as { error: { code: string; message: string } }).error;
    expect(err.code).toBe('FERRY_ERR_FORBIDDEN');
    expect(err.message).toContain(words);
  }

  it('sets no password, makes no admin and no user with a password: they would outlive it', async () => {
    await addUser(t, 'victim', { password: 'victim-password-1' });
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    await refused(await t.api('/api/v1/users/victim/password', { method: 'PUT', json: { password: 'taken-over-pw-1' }, token: expiring }), 'does not expire');
    await refused(await t.api('/api/v1/users', { method: 'POST', json: { name: 'backdoor', password: 'backdoor-pw-123' }, token: expiring }), 'does not expire');
    await refused(await t.api('/api/v1/users', { method: 'POST', json: { name: 'backdoor', role: 'admin' }, token: expiring }), 'does not expire');
    await refused(await t.api('/api/v1/users/victim', { method: 'PATCH', json: { role: 'admin' }, token: expiring }), 'does not expire');
    expect((await t.api('/api/v1/users/backdoor')).status).toBe(404);
    expect(((await (await t.api('/api/v1/users/victim')).json()) as { role: string }).role).toBe('user');
    expect((await t.api('/api/v1/auth/login', { method: 'POST', json: { user: 'victim', password: 'taken-over-pw-1' }, token: null })).status).toBe(401);
    // What does not outlive it, it still does: a user without a password, a quota.
    expect((await t.api('/api/v1/users', { method: 'POST', json: { name: 'plain' }, token: expiring })).status).toBe(201);
    expect((await t.api('/api/v1/users/plain', { method: 'PATCH', json: { quotaBytes: 1000 }, token: expiring })).status).toBe(200);
    // It may disable an account, not enable one (its credentials would work again for good).
    expect((await t.api('/api/v1/users/plain', { method: 'PATCH', json: { disabled: true }, token: expiring })).status).toBe(200);
    await refused(await t.api('/api/v1/users/plain', { method: 'PATCH', json: { disabled: false }, token: expiring }), 'does not expire');
    expect(((await (await t.api('/api/v1/users/plain')).json()) as { disabled: boolean }).disabled).toBe(true);

    // A token without expiry (and without a prefix) may.
    const lasting = await adminToken({});
    expect((await t.api('/api/v1/users/victim/password', { method: 'PUT', json: { password: 'victim-password-2' }, token: lasting })).status).toBe(204);
    expect((await t.api('/api/v1/users/victim', { method: 'PATCH', json: { role: 'admin' }, token: lasting })).status).toBe(200);
  });

  it('widens no grants, home, limits or address lists (lasting access); narrowing them it may', async () => {
    await addUser(t, 'mole', { quotaBytes: 1000, maxSessions: 2, ipAllow: ['10.0.0.0/8', '127.0.0.1/32'], ipDeny: ['127.0.0.2/32'], grants: [{ path: '/', permissions: ['list', 'read'] }, { path: '/secret', permissions: ['list'] }] });
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    const patch = (json: Record<string, unknown>) => t.api('/api/v1/users/mole', { method: 'PATCH', json, token: expiring });
    const grant = (path: string, permissions: string[]) => t.api('/api/v1/users/mole/grants', { method: 'PUT', json: { path, permissions }, token: expiring });
    await refused(await grant('/', ['list', 'read', 'write']), 'does not expire');
    await refused(await grant('/other', ['list', 'read', 'write']), 'does not expire');
    // Removing the narrower grant on /secret would let the one on / rule there: read.
    await refused(await grant('/secret', []), 'does not expire');
    await refused(await patch({ grants: [{ path: '/', permissions: ['list', 'read'] }] }), 'does not expire');
    await refused(await patch({ home: '/' }), "changing a user's home");
    await refused(await patch({ quotaBytes: 2000 }), 'quotaBytes');
    await refused(await patch({ maxSessions: null }), 'maxSessions');
    await refused(await patch({ ipAllow: [] }), 'address lists');
    await refused(await patch({ ipAllow: ['0.0.0.0/0'] }), 'address lists');
    await refused(await patch({ ipDeny: [] }), 'address lists');
    const mole = (await (await t.api('/api/v1/users/mole')).json()) as UserInfo;
    expect(mole.home).toBe('/users/mole');
    expect(mole.grants).toEqual([{ path: '/', permissions: ['list', 'read'] }, { path: '/secret', permissions: ['list'] }]);
    expect(mole.quotaBytes).toBe(1000);
    expect(mole.maxSessions).toBe(2);

    // Narrowing outlives nothing: an incident answered with a short-lived token.
    expect((await grant('/', ['list'])).status).toBe(200);
    expect((await grant('/secret', ['list'])).status).toBe(200);
    expect((await patch({ grants: [{ path: '/', permissions: ['list'] }] })).status).toBe(200);
    expect((await patch({ home: '/users/mole', quotaBytes: 500, maxSessions: 1, ipAllow: ['127.0.0.1/32'], ipDeny: ['127.0.0.2/32', '127.0.0.3/32'] })).status).toBe(200);
    await addUser(t, 'gone-soon');
    expect((await t.api('/api/v1/users/gone-soon', { method: 'DELETE', token: expiring })).status).toBe(204);

    const lasting = await adminToken({});
    expect((await t.api('/api/v1/users/mole', { method: 'PATCH', json: { home: '/', quotaBytes: null, ipAllow: [], grants: [{ path: '/', permissions: ['list', 'read', 'write'] }] }, token: lasting })).status).toBe(200);
    expect((await t.api('/api/v1/users/mole/grants', { method: 'PUT', json: { path: '/x', permissions: ['share'] }, token: lasting })).status).toBe(200);
  });

  it('makes no webhook: it would send every file event out for ever', async () => {
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    const hook = { url: 'http://127.0.0.1:2/hook', events: ['upload'] };
    await refused(await t.api('/api/v1/admin/webhooks', { method: 'POST', json: hook, token: expiring }), 'does not expire');
    expect(((await (await t.api('/api/v1/admin/webhooks')).json()) as unknown[]).length).toBe(0);
    const lasting = await adminToken({});
    expect((await t.api('/api/v1/admin/webhooks', { method: 'POST', json: hook, token: lasting })).status).toBe(201);
  });

  it("makes tokens for others that expire with it, and none with a path prefix", async () => {
    await addUser(t, 'bot');
    const expiring = await adminToken({ expiresInSeconds: 3600 });
    const res = await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'forever', user: 'bot' }, token: expiring });
    expect(res.status, await res.clone().text()).toBe(201);
    const made = (await res.json()) as CreatedToken;
    expect(made.expiresAt).not.toBeNull();
    expect(made.expiresAt!).toBeLessThanOrEqual(Date.now() + 3600_000 + 5_000);

    const narrowed = await adminToken({ pathPrefix: '/photos' });
    await refused(await t.api('/api/v1/tokens', { method: 'POST', json: { name: 'wide', user: 'bot' }, token: narrowed }), 'path prefix');
    await refused(await t.api('/api/v1/users/bot/password', { method: 'PUT', json: { password: 'bot-password-12' }, token: narrowed }), 'path prefix');
    await refused(await t.api('/api/v1/users/bot/keys', { method: 'POST', json: { keys: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl x' }, token: narrowed }), 'path prefix');
  });
});
