/**
 * Users, passwords, tokens, web sessions, grants and homes, against a real server; and what
 * the metadata store keeps of the secrets (hashes only).
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedToken, MeResponse, WebSession } from '../../src/core/protocol.js';
import { REFRESH_GRACE_MS } from '../../src/server/auth.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, accessTokenTtlMs: 60_000 });
});
afterAll(async () => {
  await t?.close();
});

const post = (path: string, json: unknown, token: string | null = null) => t.api(path, { method: 'POST', json, token });

async function login(user: string, password: string, extra: Record<string, unknown> = {}): Promise<Response> {
  return post('/api/v1/auth/login', { user, password, ...extra });
}

describe('users and password login', () => {
  it('creates users with a home; a login makes a working token; wrong passwords and unknown users look alike', async () => {
    const u = await addUser(t, 'carol', { password: 'carol-password-1' });
    expect(u).toMatchObject({ name: 'carol', role: 'user', home: '/users/carol', hasPassword: true, grants: [{ path: '/', permissions: ['list', 'read', 'write', 'delete', 'mkdir', 'share'] }] });
    const ok = await login('carol', 'carol-password-1', { tokenName: 'laptop' });
    expect(ok.status).toBe(201);
    const created = (await ok.json()) as CreatedToken;
    expect(created.token).toMatch(/^ferry_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    // The id is random, not a piece of the secret.
    expect(created.token.split('_')[2]).not.toContain(created.id);
    expect(created.expiresAt).toBeGreaterThan(clock);
    const me = (await (await t.api('/api/v1/me', { token: created.token })).json()) as MeResponse;
    expect(me).toMatchObject({ user: 'carol', role: 'user', home: '/users/carol', pathPrefix: null });

    const wrong = await login('carol', 'not-the-password');
    const unknown = await login('nobody', 'not-the-password');
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(await wrong.json()).toEqual(await unknown.json());
  });

  it('a disabled user cannot log in, and their tokens stop at once', async () => {
    await addUser(t, 'dave', { password: 'dave-password-1' });
    const tok = (await (await login('dave', 'dave-password-1')).json()) as CreatedToken;
    expect((await t.api('/api/v1/me', { token: tok.token })).status).toBe(200);
    expect((await t.api('/api/v1/users/dave', { method: 'PATCH', json: { disabled: true } })).status).toBe(200);
    expect((await t.api('/api/v1/me', { token: tok.token })).status).toBe(401);
    expect((await login('dave', 'dave-password-1')).status).toBe(401);
    expect((await t.api('/api/v1/users/dave', { method: 'PATCH', json: { disabled: false } })).status).toBe(200);
    expect((await t.api('/api/v1/me', { token: tok.token })).status).toBe(200);
  });

  it('changes a password: the current one is required', async () => {
    await addUser(t, 'erin', { password: 'erin-password-1' });
    const tok = (await (await login('erin', 'erin-password-1')).json()) as CreatedToken;
    expect((await post('/api/v1/me/password', { currentPassword: 'wrong-one-xx', newPassword: 'erin-password-2' }, tok.token)).status).toBe(401);
    expect((await post('/api/v1/me/password', { currentPassword: 'erin-password-1', newPassword: 'short' }, tok.token)).status).toBe(400);
    expect((await post('/api/v1/me/password', { currentPassword: 'erin-password-1', newPassword: 'erin-password-2' }, tok.token)).status).toBe(204);
    expect((await login('erin', 'erin-password-1')).status).toBe(401);
    expect((await login('erin', 'erin-password-2')).status).toBe(201);
  });

  it('refuses bad user definitions', async () => {
    const bad = [{ name: '../x' }, { name: 'ok1', role: 'root' }, { name: 'ok2', password: 'short' }, { name: 'ok3', grants: [{ path: '/', permissions: ['admin'] }] }, { name: 'ok4', grants: [{ path: '/', permissions: ['fly'] }] }, { name: 'ok5', ipAllow: ['10.0.0.0/33'] }, { name: 'ok6', quota: 1000 }];
    for (const body of bad) expect((await t.api('/api/v1/users', { method: 'POST', json: body })).status, JSON.stringify(body)).toBe(400);
    expect((await t.api('/api/v1/users', { method: 'POST', json: { name: 'carol' } })).status).toBe(409);
  });
});

describe('tokens', () => {
  it('revocation takes effect on the next request; last use is recorded', async () => {
    await addUser(t, 'frank');
    const tok = await tokenFor(t, 'frank');
    expect((await t.api('/api/v1/me', { token: tok.token })).status).toBe(200);
    const listed = (await (await t.api('/api/v1/tokens', { token: tok.token })).json()) as { id: string; lastUsedAt: number | null }[];
    expect(listed.find((x) => x.id === tok.id)?.lastUsedAt).toBe(clock);
    expect((await t.api(`/api/v1/tokens/${tok.id}`, { method: 'DELETE', token: tok.token })).status).toBe(200);
    const after = await t.api('/api/v1/me', { token: tok.token });
    expect(after.status).toBe(401);
    expect(((await after.json()) as { error: { message: string } }).error.message).toMatch(/revoked/);
  });

  it('expires', async () => {
    await addUser(t, 'gina');
    const tok = await tokenFor(t, 'gina', { expiresInSeconds: 120 });
    expect((await t.api('/api/v1/me', { token: tok.token })).status).toBe(200);
    clock += 121_000;
    const res = await t.api('/api/v1/me', { token: tok.token });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/expired/);
  });

  it('a token only makes tokens that can do less, and never admin ones for a user', async () => {
    await addUser(t, 'hank');
    const ro = await tokenFor(t, 'hank', { scopes: ['list', 'read'], pathPrefix: '/pub', expiresInSeconds: 3600 });
    const child = await post('/api/v1/tokens', { name: 'child' }, ro.token);
    expect(child.status).toBe(201);
    const c = (await child.json()) as CreatedToken;
    expect(c).toMatchObject({ scopes: ['list', 'read'], pathPrefix: '/pub' });
    expect(c.expiresAt).toBe(ro.expiresAt); // capped at the parent's expiry
    expect((await post('/api/v1/tokens', { name: 'x', scopes: ['write'] }, ro.token)).status).toBe(403);
    expect((await post('/api/v1/tokens', { name: 'x', pathPrefix: '/' }, ro.token)).status).toBe(201); // '/' means "no narrower": the parent's prefix stays
    expect((await post('/api/v1/tokens', { name: 'x', pathPrefix: '/other' }, ro.token)).status).toBe(403);
    const full = await tokenFor(t, 'hank');
    expect((await post('/api/v1/tokens', { name: 'x', scopes: ['admin'] }, full.token)).status).toBe(403);
    expect((await post('/api/v1/tokens', { name: 'x', scopes: ['teleport'] }, full.token)).status).toBe(400);
  });

  it('a misspelt field of a token or a share link is refused, never ignored (it would make one that can do more)', async () => {
    await addUser(t, 'ines');
    const full = await tokenFor(t, 'ines');
    await uploadBuffer(t, '/f.txt', Buffer.from('x'), 1024, { token: full.token });
    const cases: [string, Record<string, unknown>, string][] = [
      ['/api/v1/tokens', { name: 'ci', scope: ['read'] }, 'scope'],
      ['/api/v1/tokens', { name: 'ci', prefix: '/ci' }, 'prefix'],
      ['/api/v1/shares', { path: '/f.txt', maxDownloads: 1 }, 'maxDownloads'],
      ['/api/v1/shares', { path: '/f.txt', expires: '7d' }, 'expires'],
    ];
    for (const [route, body, field] of cases) {
      const res = await post(route, body, full.token);
      expect(res.status, field).toBe(400);
      expect(((await res.json()) as { error: { code: string; message: string; details: unknown } }).error).toMatchObject({ code: 'FERRY_ERR_VALIDATION', message: expect.stringContaining(`unknown field ${field}`), details: { field } });
    }
    const tokens = (await (await t.api('/api/v1/tokens', { token: full.token })).json()) as unknown[];
    expect(tokens).toHaveLength(1);
    expect((await (await t.api('/api/v1/shares', { token: full.token })).json()) as unknown[]).toHaveLength(0);
    expect((await post('/api/v1/shares', { path: '/f.txt', maxUses: 1, expiresInSeconds: 60 }, full.token)).status).toBe(201);
  });
});

describe('web sessions', () => {
  it('login, short-lived access token, refresh rotation with reuse detection, logout', async () => {
    await addUser(t, 'ivy', { password: 'ivy-password-1' });
    const res = await post('/api/v1/auth/session', { user: 'ivy', password: 'ivy-password-1' });
    expect(res.status).toBe(201);
    const s1 = (await res.json()) as WebSession;
    expect(s1.accessToken).toMatch(/^ferrys_/);
    expect(s1.accessExpiresAt).toBe(clock + 60_000);
    expect((await t.api('/api/v1/me', { token: s1.accessToken })).status).toBe(200);

    // A tampered access token is refused.
    const tampered = s1.accessToken.slice(0, -2) + (s1.accessToken.endsWith('AA') ? 'BB' : 'AA');
    expect((await t.api('/api/v1/me', { token: tampered })).status).toBe(401);

    // It expires; the refresh token gets a new pair.
    clock += 61_000;
    expect((await t.api('/api/v1/me', { token: s1.accessToken })).status).toBe(401);
    const r2 = await post('/api/v1/auth/refresh', { refreshToken: s1.refreshToken });
    expect(r2.status).toBe(200);
    const s2 = (await r2.json()) as WebSession;
    expect(s2.refreshToken).not.toBe(s1.refreshToken);
    expect((await t.api('/api/v1/me', { token: s2.accessToken })).status).toBe(200);

    // The retired token again within seconds of its retirement: a page reloaded before the
    // refresh's answer (and its cookie) arrived. A new token, not the end of the session; the
    // one it replaces, which nobody received, is void (refused, the session kept).
    clock += REFRESH_GRACE_MS - 1_000;
    const again = await post('/api/v1/auth/refresh', { refreshToken: s1.refreshToken });
    expect(again.status).toBe(200);
    const s2b = (await again.json()) as WebSession;
    expect(s2b.refreshToken).not.toBe(s2.refreshToken);
    expect((await t.api('/api/v1/me', { token: s2b.accessToken })).status).toBe(200);
    const lost = await post('/api/v1/auth/refresh', { refreshToken: s2.refreshToken });
    expect(lost.status).toBe(401);
    expect(((await lost.json()) as { error: { message: string } }).error.message).toBe('the session is not valid');
    expect((await t.api('/api/v1/me', { token: s2b.accessToken })).status).toBe(200);

    // The retired refresh token comes back later: someone copied it. The whole session ends.
    clock += 2_000;
    const replay = await post('/api/v1/auth/refresh', { refreshToken: s1.refreshToken });
    expect(replay.status).toBe(401);
    expect(((await replay.json()) as { error: { details: { reason: string } } }).error.details.reason).toBe('refresh-token-reuse');
    expect((await t.api('/api/v1/me', { token: s2b.accessToken })).status).toBe(401);
    expect((await post('/api/v1/auth/refresh', { refreshToken: s2b.refreshToken })).status).toBe(401);

    // Logout ends a fresh session at once.
    const s3 = (await (await post('/api/v1/auth/session', { user: 'ivy', password: 'ivy-password-1' })).json()) as WebSession;
    expect((await t.api('/api/v1/auth/logout', { method: 'POST', token: s3.accessToken })).status).toBe(204);
    expect((await t.api('/api/v1/me', { token: s3.accessToken })).status).toBe(401);
    expect((await post('/api/v1/auth/refresh', { refreshToken: s3.refreshToken })).status).toBe(401);
  });
});

describe('homes and grants', () => {
  it('a user sees only their home, with paths relative to it', async () => {
    await addUser(t, 'jack');
    await addUser(t, 'kate');
    const jack = await tokenFor(t, 'jack');
    const kate = await tokenFor(t, 'kate');
    expect((await uploadBuffer(t, '/notes/j.txt', Buffer.from('jack'), 1024, { token: jack.token })).status).toBe(200);
    expect((await uploadBuffer(t, '/k.txt', Buffer.from('kate'), 1024, { token: kate.token })).status).toBe(200);
    const listing = (await (await t.api('/api/v1/list/?recursive=true', { token: jack.token })).json()) as { entries: { path: string }[] };
    expect(listing.entries.map((e) => e.path)).toEqual(['/notes', '/notes/j.txt']);
    // The admin (home /) sees both homes in place.
    expect((await t.api('/api/v1/stat/users/jack/notes/j.txt')).status).toBe(200);
    // No way out of the home.
    const raw = await fetch(t.url + '/api/v1/files/..%2fkate%2fk.txt', { headers: { authorization: `Bearer ${jack.token}` } });
    expect(raw.status).toBe(400);
    expect((await t.api('/api/v1/files/', { method: 'DELETE', token: jack.token })).status).toBe(400);
    expect((await post('/api/v1/move', { from: '/', to: '/elsewhere' }, jack.token)).status).toBe(400);
  });

  it('per-path grants: the nearest grant decides, and a tree operation needs the right everywhere inside', async () => {
    await addUser(t, 'liam', {
      grants: [
        { path: '/', permissions: ['list', 'read', 'write', 'delete', 'mkdir'] },
        { path: '/archive', permissions: ['list', 'read'] },
        { path: '/archive/inbox', permissions: ['list', 'write'] },
      ],
    });
    const liam = await tokenFor(t, 'liam');
    const admin = (p: string) => '/users/liam' + p;
    expect((await uploadBuffer(t, admin('/archive/old.txt'), Buffer.from('old'), 1024)).status).toBe(200);
    expect((await uploadBuffer(t, '/archive/inbox/new.txt', Buffer.from('new'), 1024, { token: liam.token })).status).toBe(200);
    await expect(uploadBuffer(t, '/archive/x.txt', Buffer.from('x'), 1024, { token: liam.token })).rejects.toThrow(/403/);
    expect((await t.api('/api/v1/files/archive/old.txt', { token: liam.token })).status).toBe(200);
    expect((await t.api('/api/v1/files/archive/inbox/new.txt', { token: liam.token })).status).toBe(403); // write-only drop box
    expect((await t.api('/api/v1/files/archive/old.txt', { method: 'DELETE', token: liam.token })).status).toBe(403);
    // The archive cannot be deleted or moved away through its parent either.
    expect((await uploadBuffer(t, '/top.txt', Buffer.from('top'), 1024, { token: liam.token })).status).toBe(200);
    expect((await t.api('/api/v1/files/?recursive=true', { method: 'DELETE', token: liam.token })).status).toBe(400);
    expect((await post('/api/v1/move', { from: '/archive', to: '/gone' }, liam.token)).status).toBe(403);
    // A read-only grant deeper down protects its tree from a recursive delete of the parent.
    expect((await t.api('/api/v1/users/liam/grants', { method: 'PUT', json: { path: '/data/keep', permissions: ['list', 'read'] } })).status).toBe(200);
    expect((await uploadBuffer(t, admin('/data/keep/k.txt'), Buffer.from('k'), 1024)).status).toBe(200);
    expect((await t.api('/api/v1/files/data?recursive=true', { method: 'DELETE', token: liam.token })).status).toBe(403);
    expect((await post('/api/v1/copy', { from: '/data', to: '/data2' }, liam.token)).status).toBe(200); // reading it all is allowed
    expect((await t.api('/api/v1/mkdir/archive/sub', { method: 'POST', token: liam.token })).status).toBe(403);
    // A share link needs the share permission, which liam was not given.
    expect((await post('/api/v1/shares', { path: '/top.txt' }, liam.token)).status).toBe(403);
    // Grants change without a restart.
    expect((await t.api('/api/v1/users/liam/grants', { method: 'PUT', json: { path: '/archive', permissions: ['list', 'read', 'delete'] } })).status).toBe(200);
    expect((await t.api('/api/v1/files/archive/old.txt', { method: 'DELETE', token: liam.token })).status).toBe(204);
  });
});

describe('secrets at rest', () => {
  it('the metadata store holds hashes of tokens, refresh tokens, passwords and share keys, never the secrets', async () => {
    await addUser(t, 'mia', { password: 'mia-password-secret' });
    const tok = (await (await login('mia', 'mia-password-secret')).json()) as CreatedToken;
    const sess = (await (await post('/api/v1/auth/session', { user: 'mia', password: 'mia-password-secret' })).json()) as WebSession;
    expect((await uploadBuffer(t, '/s.txt', Buffer.from('s'), 1024, { token: tok.token })).status).toBe(200);
    const sh = (await (await post('/api/v1/shares', { path: '/s.txt', password: 'share-password-x' }, tok.token)).json()) as { url: string };
    const key = sh.url.split('/s/')[1];
    const db = new Database(join(t.dataDir, 'meta.db'), { readonly: true });
    try {
      const dump = ['users', 'tokens', 'web_sessions', 'shares', 'audit']
        .map((table) => JSON.stringify(db.prepare(`select * from ${table}`).all()))
        .join('\n');
      // ferry_<16 hex id>_<secret>: the secret (base64url, so it may hold '_' itself) is all after the id.
      const secretPart = tok.token.slice('ferry_'.length + 16 + 1);
      expect(secretPart).toHaveLength(43);
      for (const secret of [tok.token, secretPart, sess.refreshToken!, sess.accessToken, key, 'mia-password-secret', 'share-password-x', t.token]) {
        expect(dump.includes(secret), 'a secret is stored in clear').toBe(false);
      }
      const row = db.prepare('select secret_hash from tokens where id = ?').get(tok.id) as { secret_hash: string };
      expect(row.secret_hash).toBe(createHash('sha256').update(tok.token).digest('hex'));
      const user = db.prepare("select password_hash from users where name = 'mia'").get() as { password_hash: string };
      expect(user.password_hash).toMatch(/^scrypt\$\d+\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
      expect(db.prepare('select key_hash from shares').all()).toContainEqual({ key_hash: createHash('sha256').update(key).digest('hex') });
    } finally {
      db.close();
    }
  });
});
