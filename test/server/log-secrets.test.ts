/**
 * Nothing secret in the log, at the most verbose level: a real `ferry serve` at `trace` (every
 * line of every other level is there too) goes through each door with right and wrong
 * credentials (password login, web session cookie and its refresh, bearer tokens, a password
 * share link by Basic, unlock and its cookie, WebDAV Basic, SFTP password), an upload that
 * works and ones that fail; then its whole output (stdout and stderr) is searched for every
 * secret used, whole and for its secret half.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startServer, type RunningServer } from '../helpers/server.js';

const work = mkdtempSync(join(tmpdir(), 'ferry-log-secrets-'));
let server: RunningServer | undefined;
afterAll(async () => {
  await server?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** `Set-Cookie` values of a response, by cookie name. */
const cookiesOf = (res: Response): Record<string, string> =>
  Object.fromEntries(res.headers.getSetCookie().map((c) => c.split(';')[0].split('=') as [string, string]));

/** An SFTP login with a password: true when it got in. */
function sftpLogin(port: number, username: string, password: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = new Client();
    c.on('ready', () => c.sftp((err, sftp) => (err ? (c.end(), resolve(false)) : sftp.readdir('/', () => (c.end(), resolve(true))))));
    c.on('error', () => resolve(false));
    c.connect({ host: '127.0.0.1', port, username, password, readyTimeout: 20_000 });
  });
}

describe('the log of a session through every door', () => {
  it('holds no password, token, share key or cookie value, whole or in part', async () => {
    server = await startServer({ dataDir: join(work, 'data'), extraArgs: ['--sftp-addr', '127.0.0.1:0', '--sftp-password-auth'], env: { FERRY_LOG_LEVEL: 'trace' } });
    const s = server;
    const api = (path: string, init: RequestInit & { token?: string } = {}) =>
      fetch(`${s.url}${path}`, { ...init, headers: { ...(init.token ? { authorization: `Bearer ${init.token}` } : {}), ...(init.body ? { 'content-type': 'application/json' } : {}), ...(init.headers as Record<string, string>) } });
    const password = `Pw-${randomBytes(12).toString('hex')}`;
    const sharePassword = `Share-${randomBytes(12).toString('hex')}`;
    const basic = (user: string, pw: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}` });

    expect((await api('/api/v1/users', { method: 'POST', token: s.adminToken, body: JSON.stringify({ name: 'ana', password }) })).status).toBe(201);
    // API login, right and wrong.
    const login = await api('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ user: 'ana', password }) });
    expect(login.status).toBe(201);
    const token = ((await login.json()) as { token: string }).token;
    expect((await api('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ user: 'ana', password: `${password}x` }) })).status).toBe(401);
    expect((await api('/api/v1/me', { token: `${token}x` })).status).toBe(401);
    // The web app's session: its refresh cookie, used once.
    const session = await api('/api/v1/auth/session', { method: 'POST', body: JSON.stringify({ user: 'ana', password, cookie: true }) });
    expect(session.status).toBe(201);
    const { accessToken } = (await session.json()) as { accessToken: string };
    const sessionCookies = cookiesOf(session);
    const refresh = await api('/api/v1/auth/refresh', { method: 'POST', body: '{}', headers: { cookie: Object.entries(sessionCookies).map(([k, v]) => `${k}=${v}`).join('; ') } });
    expect(refresh.status).toBe(200);
    const refreshed = [...Object.values(cookiesOf(refresh)), ((await refresh.json()) as { accessToken: string }).accessToken];
    expect((await api('/api/v1/me', { token: accessToken })).status).toBe(200);

    // Uploads by the CLI: one that works, one with a wrong token, one to a path refused.
    const file = join(work, 'f.bin');
    writeFileSync(file, randomBytes(200_000));
    const env = { HOME: work, FERRY_SERVER: s.url, FERRY_TOKEN: token };
    expect((await runFerry(['put', file, '/f.bin'], { env })).code).toBe(0);
    expect((await runFerry(['put', file, '/g.bin'], { env: { ...env, FERRY_TOKEN: `${token}x` } })).code).not.toBe(0);
    expect((await runFerry(['put', file, '/../g.bin'], { env })).code).not.toBe(0);

    // A password share link: Basic, wrong and right; the unlock form and its cookie.
    const created = await api('/api/v1/shares', { method: 'POST', token, body: JSON.stringify({ path: '/f.bin', password: sharePassword }) });
    expect(created.status).toBe(201);
    const shareKey = ((await created.json()) as { url: string }).url.split('/s/')[1];
    expect((await api(`/s/${shareKey}`, { headers: basic('', `${sharePassword}x`) })).status).toBe(401);
    expect((await api(`/s/${shareKey}`, { headers: basic('', sharePassword) })).status).toBe(200);
    const unlock = await api(`/s/${shareKey}/unlock`, { method: 'POST', body: JSON.stringify({ password: sharePassword }) });
    expect(unlock.status).toBe(200);
    const unlockCookies = cookiesOf(unlock);
    const unlockToken = ((await unlock.json()) as { token: string }).token;
    expect((await api(`/s/${shareKey}`, { headers: { cookie: Object.entries(unlockCookies).map(([k, v]) => `${k}=${v}`).join('; ') } })).status).toBe(200);

    // WebDAV with the password: a listing, an upload, a refused one, a wrong password.
    expect((await api('/dav/', { method: 'PROPFIND', headers: { ...basic('ana', password), depth: '1' } })).status).toBe(207);
    expect((await api('/dav/h.bin', { method: 'PUT', headers: basic('ana', password), body: randomBytes(1000) })).status).toBe(201);
    expect((await api('/dav/no/such/h.bin', { method: 'PUT', headers: basic('ana', password), body: randomBytes(1000) })).status).toBe(409);
    expect((await api('/dav/', { method: 'PROPFIND', headers: { ...basic('ana', `${password}x`), depth: '1' } })).status).toBe(401);

    // SFTP with the password, right and wrong.
    const sftpPort = Number(String(s.ready.sftp).split(':').pop());
    expect(await sftpLogin(sftpPort, 'ana', password)).toBe(true);
    expect(await sftpLogin(sftpPort, 'ana', `${password}x`)).toBe(false);
    await server.stop();

    const log = server.output();
    expect(log.length).toBeLessThan(200_000); // the helper keeps it whole below that
    expect(log).toContain('"level":20'); // the debug lines (refused requests' errors) are there: the level took
    const secrets = [password, sharePassword, s.adminToken, token, accessToken, shareKey, unlockToken, ...Object.values(sessionCookies), ...Object.values(unlockCookies), ...refreshed];
    // A token's secret half (after its id) must not show alone either.
    // (API tokens only, `ferry_ID_SECRET`: the other kinds are one random or signed string, where a
    // `_` is just one of its characters and a "half" after it could be a few letters long.)
    const halves = secrets.filter((v) => /^ferry_[^_]+_/.test(v)).map((v) => v.split('_').slice(2).join('_'));
    for (const secret of [...secrets, ...halves]) {
      expect(typeof secret === 'string' && secret.length > 10, 'each secret was read from its answer').toBe(true);
      expect(log.includes(secret), `a secret (${secret.slice(0, 8)}…) is in the log`).toBe(false);
    }
  });
});
