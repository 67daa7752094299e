/**
 * The audit log: every kind of security event leaves an entry with who, from where, what,
 * and whether it succeeded; the admin API filters by time, user and event.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditPage, CreatedToken, WebSession } from '../../src/core/protocol.js';
import { DEFAULT_DEFENDER } from '../../src/server/defender.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, auditEvents, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
let clock = Date.now();
const agent = new Agent({ localAddress: '127.0.0.7' });

beforeAll(async () => {
  t = await startTestServer({ now: () => clock, defender: { ...DEFAULT_DEFENDER, threshold: 4, safeList: ['127.0.0.1'] } });
});
afterAll(async () => {
  await agent.close();
  await t?.close();
});

const post = (path: string, json: unknown, token: string | null = null) => t.api(path, { method: 'POST', json, token });

describe('audit log', () => {
  it('records each kind of security event', async () => {
    const start = clock;
    await addUser(t, 'amy', { password: 'amy-password-1', quotaBytes: 1000 });
    const login = (await (await post('/api/v1/auth/login', { user: 'amy', password: 'amy-password-1' })).json()) as CreatedToken;
    await post('/api/v1/auth/login', { user: 'amy', password: 'wrong-password' });
    const session = (await (await post('/api/v1/auth/session', { user: 'amy', password: 'amy-password-1' })).json()) as WebSession;
    const refreshed = (await (await post('/api/v1/auth/refresh', { refreshToken: session.refreshToken })).json()) as WebSession;
    await t.api('/api/v1/auth/logout', { method: 'POST', token: refreshed.accessToken });
    await post('/api/v1/auth/refresh', { refreshToken: session.refreshToken }); // a retired token
    await t.api('/api/v1/me', { token: 'ferry_0000000000000000_' + 'A'.repeat(43) });
    const tok = await tokenFor(t, 'amy', { scopes: ['list', 'read'] });
    await t.api(`/api/v1/tokens/${tok.id}`, { method: 'DELETE' });
    await t.api('/api/v1/users/amy', { method: 'PATCH', json: { quotaFiles: 10 } });
    await t.api('/api/v1/users/amy/grants', { method: 'PUT', json: { path: '/', permissions: ['list', 'read', 'write', 'delete', 'share'] } });
    await uploadBuffer(t, '/f.txt', Buffer.from('hello'), 1024, { token: login.token });
    await t.api('/api/v1/mkdir/forbidden', { method: 'POST', token: login.token }); // no mkdir grant any more
    await uploadBuffer(t, '/big', randomBytes(2000), 1024, { token: login.token }).catch(() => undefined); // over quota
    const sh = await share(t, login.token, { path: '/f.txt', password: 'share-password' });
    await fetch(sh.url, { headers: { authorization: 'Basic ' + Buffer.from(':nope-nope').toString('base64') } });
    await fetch(sh.url, { headers: { authorization: 'Basic ' + Buffer.from(':share-password').toString('base64') } });
    await t.api(`/api/v1/shares/${sh.id}`, { method: 'DELETE', token: login.token });
    await uploadBuffer(t, '/short-lived', Buffer.from('x'), 1024, { token: login.token, ttlSeconds: 60 });
    await t.api('/api/v1/files/f.txt', { method: 'DELETE', token: login.token });
    // Last of amy's login token: a new password ends it.
    await t.api('/api/v1/users/amy/password', { method: 'PUT', json: { password: 'amy-password-2' } });
    clock += 61_000;
    await t.api('/api/v1/admin/sweep', { method: 'POST' });
    // A banned address (threshold 4: two unknown tokens), from 127.0.0.7.
    for (let i = 0; i < 3; i++) await (await request(t.url + '/api/v1/me', { dispatcher: agent, headers: { authorization: `Bearer bogus-${i}` } })).body.dump();
    await t.api('/api/v1/admin/bans/127.0.0.7', { method: 'DELETE' });
    await addUser(t, 'temp');
    await t.api('/api/v1/users/temp', { method: 'DELETE' });

    const entries = await auditEvents(t, `since=${start}`);
    const seen = new Map<string, boolean[]>();
    for (const e of entries) seen.set(e.event, [...(seen.get(e.event) ?? []), e.ok]);
    const expected: [string, boolean][] = [
      ['user.create', true],
      ['auth.login', true],
      ['auth.login', false],
      ['token.create', true],
      ['auth.session', true],
      ['auth.refresh', true],
      ['auth.refresh', false],
      ['auth.logout', true],
      ['auth.failure', false],
      ['token.revoke', true],
      ['user.update', true],
      ['user.grant', true],
      ['user.password', true],
      ['access.denied', false],
      ['quota.exceeded', false],
      ['share.create', true],
      ['share.password-failure', false],
      ['share.use', true],
      ['share.revoke', true],
      ['file.delete', true],
      ['file.expire', true],
      ['defender.ban', true],
      ['defender.unban', true],
      ['user.delete', true],
    ];
    for (const [event, ok] of expected) expect(seen.get(event), `${event} ok=${ok}`).toContain(ok);

    // Who and from where.
    const failedLogin = entries.find((e) => e.event === 'auth.login' && !e.ok)!;
    expect(failedLogin).toMatchObject({ user: 'amy', ip: '127.0.0.1' });
    const ban = entries.find((e) => e.event === 'defender.ban')!;
    expect(ban).toMatchObject({ target: '127.0.0.7', ip: '127.0.0.7' });
    const del = entries.find((e) => e.event === 'file.delete')!;
    expect(del).toMatchObject({ user: 'amy', target: '/users/amy/f.txt' });
    const denied = entries.find((e) => e.event === 'access.denied')!;
    expect(denied).toMatchObject({ user: 'amy', target: 'POST /api/v1/mkdir/forbidden' });
    // No secrets in the log.
    const text = JSON.stringify(entries);
    for (const secret of [login.token, session.refreshToken!, 'amy-password-1', 'share-password', sh.url.split('/s/')[1]]) expect(text.includes(secret)).toBe(false);
  });

  it("records refused drop-box uploads under the link's owner: over the byte cap, a wrong password, a quota, an expired link; no secret in them", async () => {
    const t0 = clock;
    await addUser(t, 'dora', { quotaBytes: 3000 });
    const dora = (await tokenFor(t, 'dora')).token;
    expect((await t.api('/api/v1/mkdir/drop', { method: 'POST', token: dora })).status).toBe(201);
    const password = 'drop-box secret 4711';
    const capped = await share(t, dora, { path: '/drop', kind: 'upload', maxBytes: 1000, password });
    const basic = (pw: string) => ({ authorization: 'Basic ' + Buffer.from(':' + pw).toString('base64') });
    // Past the byte cap, by a PUT and by the drop-box page's upload session.
    expect((await fetch(`${capped.url}/big.bin`, { method: 'PUT', body: randomBytes(2000), headers: basic(password) })).status).toBe(413);
    expect((await fetch(`${capped.url}/x.bin`, { method: 'PUT', body: 'x', headers: basic('not the password') })).status).toBe(401);
    const unlock = await fetch(`${capped.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
    const visitor = ((await unlock.json()) as { token: string }).token;
    const session = await fetch(`${t.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${visitor}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/page.bin', size: 5000 }) });
    expect(session.status).toBe(413);
    // The owner's quota, through a link without a cap.
    const open = await share(t, dora, { path: '/drop', kind: 'upload', expiresInSeconds: 60 });
    expect((await fetch(`${open.url}/huge.bin`, { method: 'PUT', body: randomBytes(5000) })).status).toBe(413);
    // The same links once expired (the page's token too).
    const expiring = await share(t, dora, { path: '/drop', kind: 'upload', expiresInSeconds: 60, password });
    const late = ((await (await fetch(`${expiring.url}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) })).json()) as { token: string }).token;
    clock += 120_000;
    expect((await fetch(`${open.url}/late.bin`, { method: 'PUT', body: 'late' })).status).toBe(410);
    const lateSession = await fetch(`${t.url}/api/v1/uploads`, { method: 'POST', headers: { authorization: `Bearer ${late}`, 'content-type': 'application/json' }, body: JSON.stringify({ path: '/late.bin', size: 4 }) });
    expect(lateSession.status).toBe(410);
    const refused = (await auditEvents(t, `event=share.upload-refused&since=${t0}`)).reverse();
    expect(refused.map((e) => [e.target, e.details?.code, e.details?.status])).toEqual([
      [capped.id, 'FERRY_ERR_LINK_BYTES_EXCEEDED', 413],
      [capped.id, 'FERRY_ERR_AUTH_INVALID', 401],
      [capped.id, 'FERRY_ERR_LINK_BYTES_EXCEEDED', 413],
      [open.id, 'FERRY_ERR_QUOTA_EXCEEDED', 413],
      [open.id, 'FERRY_ERR_GONE', 410],
      [expiring.id, 'FERRY_ERR_GONE', 410],
    ]);
    for (const e of refused) {
      expect(e).toMatchObject({ ok: false, user: 'dora', front: 'share', details: { path: '/drop' } });
      expect(typeof e.details?.reason).toBe('string');
    }
    const text = JSON.stringify(refused);
    for (const secret of [password, 'not the password', visitor, late, ...[capped, open, expiring].map((l) => l.url.split('/').pop()!)]) expect(text).not.toContain(secret);
    expect(await t.api('/api/v1/list/drop', { token: dora }).then(async (r) => ((await r.json()) as { entries: unknown[] }).entries)).toEqual([]);
  });

  it('filters by time, user and event, newest first, in pages', async () => {
    const t0 = clock;
    clock += 1000;
    await addUser(t, 'bert', { password: 'bert-password-1' });
    for (let i = 0; i < 3; i++) await post('/api/v1/auth/login', { user: 'bert', password: 'nope-nope-' + i });
    const bert = await auditEvents(t, `user=bert&since=${t0}`);
    expect(bert.map((e) => e.event)).toEqual(['auth.login', 'auth.login', 'auth.login']);
    const prefix = await auditEvents(t, `event=auth.&since=${t0}`);
    expect(prefix.every((e) => e.event.startsWith('auth.'))).toBe(true);
    expect(await auditEvents(t, `since=${clock + 1}`)).toEqual([]);
    const page1 = (await (await t.api(`/api/v1/admin/audit?limit=2&since=${t0}`)).json()) as AuditPage;
    expect(page1.entries).toHaveLength(2);
    const page2 = (await (await t.api(`/api/v1/admin/audit?limit=2&since=${t0}&before=${page1.next}`)).json()) as AuditPage;
    expect(page2.entries[0].id).toBeLessThan(page1.entries[1].id);
  });

  it('refuses an event filter no event can match, instead of an empty page', async () => {
    for (const event of ['login', 'share', 'quota', 'nonsense']) {
      const res = await t.api(`/api/v1/admin/audit?event=${event}`);
      expect(res.status, event).toBe(400);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('FERRY_ERR_VALIDATION');
      expect(body.error.message).toContain('auth.login');
    }
    expect((await t.api('/api/v1/admin/audit?event=upload')).status).toBe(200);
    expect((await t.api('/api/v1/admin/audit?event=auth.login')).status).toBe(200);
  });
});
