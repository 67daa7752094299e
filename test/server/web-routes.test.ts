/**
 * What the server does for the web app, at the HTTP level: the app's page and assets
 * (public, strict CSP, precompressed, cached by content hash), unknown paths (the app, or a
 * JSON 404 under /api/), the refresh cookie (HttpOnly, SameSite=Strict, same origin only,
 * single use), download tickets (read-only, within their path, dying with their session),
 * zip archives of folders and selections, and the drop box's upload token on the
 * upload-session routes.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { brotliDecompressSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileHashOf } from '../../src/core/manifest.js';
import { tempDir } from '../helpers/files.js';
import { sha256, startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let token: string;

const as = (tk: string | null, path: string, init: RequestInit = {}) =>
  fetch(t.url + path, { ...init, headers: { ...(tk ? { authorization: `Bearer ${tk}` } : {}), ...(init.headers as Record<string, string>) } });

async function put(path: string, body: Uint8Array | string): Promise<void> {
  expect((await as(token, `/api/v1/files${path}`, { method: 'PUT', body })).status).toBe(201);
}

function cookieOf(res: Response, name: string): string | undefined {
  return res.headers.getSetCookie().find((c) => c.startsWith(name + '='));
}

beforeAll(async () => {
  t = await startTestServer();
  dir = await tempDir('ferry-web-routes-');
  await addUser(t, 'ivy', { password: 'ivy-password-1' });
  const r = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1' }) });
  token = ((await r.json()) as { token: string }).token;
  await put('/docs/a.txt', 'alpha');
  await put('/docs/deep/b.txt', 'beta');
  await put('/pics/c.bin', randomBytes(70_000));
  await put('/secret.txt', 'not for tickets of /docs');
});

afterAll(async () => {
  await t?.close();
  await dir?.cleanup();
});

describe('the web app on the server', () => {
  it("a password login's token shows the scopes its user has: no 'admin' for a user without the role", async () => {
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1' }) });
    const created = (await login.json()) as { id: string; scopes: string[]; token: string };
    expect(created.scopes).toEqual(['list', 'read', 'write', 'delete', 'mkdir', 'share']);
    const listed = (await (await as(created.token, '/api/v1/tokens')).json()) as Array<{ id: string; scopes: string[] }>;
    expect(listed.find((x) => x.id === created.id)?.scopes).toEqual(created.scopes);
    // The admin sees the same for ivy's token, and 'admin' on its own full token.
    const all = (await (await t.api('/api/v1/tokens?all=true')).json()) as Array<{ id: string; userName: string; scopes: string[] }>;
    expect(all.find((x) => x.id === created.id)?.scopes).not.toContain('admin');
    expect(all.some((x) => x.userName === 'admin' && x.scopes.includes('admin'))).toBe(true);
  });

  it('serves its page and assets without a token: strict CSP, no framing, content-hashed assets cached, brotli when asked', async () => {
    const page = await fetch(t.url + '/');
    expect(page.status).toBe(200);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'none'");
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)/); // no inline script
    const js = /src="(\/assets\/[^"]+\.js)"/.exec(html)![1];
    const plain = await fetch(t.url + js, { headers: { 'accept-encoding': 'identity' } });
    expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(plain.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const raw = Buffer.from(await plain.arrayBuffer());
    const { stdout } = await run('curl', ['-s', '-H', 'accept-encoding: br', '-D', '-', '-o', join(dir.path, 'app.js.br'), t.url + js], { encoding: 'utf8' });
    expect(stdout).toMatch(/content-encoding: br/i);
    expect(brotliDecompressSync(readFileSync(join(dir.path, 'app.js.br'))).equals(raw)).toBe(true);
    // README, "Web app": the first page loads about 50 KiB of JavaScript, brotli (the bound: under 56 KiB).
    const scripts = [...html.matchAll(/<script[^>]*\ssrc="([^"]+)"|<link[^>]*rel="modulepreload"[^>]*href="([^"]+)"/g)].map((m) => m[1] ?? m[2]);
    let brotliBytes = 0;
    for (const src of scripts) {
      // fetch decodes the body, so the size on the wire is the header's.
      const r = await fetch(t.url + src, { headers: { 'accept-encoding': 'br' } });
      expect(r.headers.get('content-encoding'), src).toBe('br');
      brotliBytes += Number(r.headers.get('content-length'));
      await r.arrayBuffer();
    }
    expect(scripts).toContain(js);
    expect(brotliBytes).toBeGreaterThan(20 * 1024);
    expect(brotliBytes).toBeLessThan(56 * 1024);
    // Client-side routes are the app; API paths stay JSON.
    expect(await (await fetch(t.url + '/admin/users')).text()).toBe(html);
    const api = await fetch(t.url + '/api/v1/nope');
    expect(api.status).toBe(404);
    expect(((await api.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_NOT_FOUND');
    expect((await fetch(t.url + '/assets/missing.js')).status).toBe(404);
    // The API itself still wants a token.
    expect((await fetch(t.url + '/api/v1/list')).status).toBe(401);
  });

  it('web sessions with cookie: the refresh token only in an HttpOnly SameSite=Strict cookie, single use, same origin only; logout clears it', async () => {
    const start = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1', cookie: true }) });
    expect(start.status).toBe(201);
    const body = (await start.json()) as { accessToken: string; refreshToken?: string; accessExpiresAt: number };
    expect(body.refreshToken).toBeUndefined();
    // README, "Tokens": a 15-minute access token.
    const left = body.accessExpiresAt - Date.now();
    expect(left).toBeGreaterThan(14 * 60_000);
    expect(left).toBeLessThanOrEqual(15 * 60_000);
    const set = cookieOf(start, '__Host-ferry_refresh')!;
    expect(set).toMatch(/HttpOnly/);
    expect(set).toMatch(/SameSite=Strict/);
    // Loopback is a secure context for browsers: a __Host- cookie (no Domain, Path=/), which
    // no sibling subdomain can set (test/web/cookie-tossing.test.ts).
    expect(set).toMatch(/Path=\/;/);
    expect(set).toMatch(/Secure/);
    expect(set).not.toMatch(/Domain/);
    const cookie = set.split(';')[0];
    const refresh = (c: string, origin?: string) =>
      fetch(t.url + '/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json', cookie: c, ...(origin ? { origin } : {}) }, body: '{}' });
    // Another site's page cannot spend it.
    expect((await refresh(cookie, 'https://evil.example')).status).toBe(403);
    const next = await refresh(cookie, t.url);
    expect(next.status).toBe(200);
    const renewed = (await next.json()) as { accessToken: string; refreshToken?: string };
    expect(renewed.refreshToken).toBeUndefined();
    expect((await as(renewed.accessToken, '/api/v1/me')).status).toBe(200);
    const cookie2 = cookieOf(next, '__Host-ferry_refresh')!.split(';')[0];
    expect(cookie2).not.toBe(cookie);
    // The old one again at once (a page reloaded before the answer and its cookie arrived:
    // README, "Tokens"): a new cookie, and the one it replaced is void. Later, reuse ends the
    // whole session (test/server/accounts.test.ts, on a server clock moved past the grace).
    const again = await refresh(cookie, t.url);
    expect(again.status).toBe(200);
    const cookie3 = cookieOf(again, '__Host-ferry_refresh')!.split(';')[0];
    expect(cookie3).not.toBe(cookie2);
    expect((await refresh(cookie2, t.url)).status).toBe(401);
    expect((await refresh(cookie3, t.url)).status).toBe(200);
    // Logout clears the cookie.
    const s2 = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1', cookie: true }) });
    const c3 = cookieOf(s2, '__Host-ferry_refresh')!.split(';')[0];
    const out = await fetch(t.url + '/api/v1/auth/logout', { method: 'POST', headers: { authorization: `Bearer ${((await s2.json()) as { accessToken: string }).accessToken}`, cookie: c3 } });
    expect(out.status).toBe(204);
    expect(cookieOf(out, '__Host-ferry_refresh')).toMatch(/Max-Age=0/);
    expect((await refresh(c3, t.url)).status).toBe(401);
    // Without a cookie and without a body token: 401, not a crash.
    expect((await refresh('', t.url)).status).toBe(401);
    // ifSession (the web app at a page load): no cookie is no session, 204; a spent cookie
    // is still a failed refresh
    const ifSession = (c: string) => fetch(t.url + '/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json', cookie: c, origin: t.url }, body: '{"ifSession":true}' });
    const none = await ifSession('');
    expect([none.status, await none.text()]).toEqual([204, '']);
    expect((await ifSession(c3)).status).toBe(401);
    const s4 = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1', cookie: true }) });
    const resumed = await ifSession(cookieOf(s4, '__Host-ferry_refresh')!.split(';')[0]);
    expect(resumed.status).toBe(200);
    expect((await as(((await resumed.json()) as { accessToken: string }).accessToken, '/api/v1/me')).status).toBe(200);
  });

  it('download tickets: read-only, within their path, no Authorization header needed, dead with their session', async () => {
    const s = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ivy', password: 'ivy-password-1' }) });
    const access = ((await s.json()) as { accessToken: string }).accessToken;
    const made = await as(access, '/api/v1/auth/ticket', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/docs' }) });
    expect(made.status).toBe(200);
    const { ticket } = (await made.json()) as { ticket: string };
    const got = await fetch(`${t.url}/api/v1/files/docs/a.txt?download=1&ticket=${ticket}`);
    expect(got.status).toBe(200);
    expect(await got.text()).toBe('alpha');
    expect(got.headers.get('content-disposition')).toBe(`attachment; filename="a.txt"; filename*=UTF-8''a.txt`);
    expect(got.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect((await fetch(`${t.url}/api/v1/files/secret.txt?ticket=${ticket}`)).status).toBe(403);
    expect((await fetch(`${t.url}/api/v1/files/docs/a.txt?ticket=${ticket}`, { method: 'DELETE' })).status).toBe(401);
    expect((await fetch(`${t.url}/api/v1/list/docs?ticket=${ticket}`)).status).toBe(401); // only on downloads
    expect((await fetch(`${t.url}/api/v1/files/docs/a.txt?ticket=${ticket}x`)).status).toBe(401);
    // A ticket is not a bearer token anywhere.
    expect((await as(ticket, '/api/v1/me')).status).toBe(401);
    expect((await as(access, '/api/v1/auth/logout', { method: 'POST' })).status).toBe(204);
    expect((await fetch(`${t.url}/api/v1/files/docs/a.txt?ticket=${ticket}`)).status).toBe(401);
  });

  it('zip archives of a folder and of a selection hold exactly the readable files, streamed with their length known', async () => {
    const folder = await as(token, '/api/v1/zip/docs');
    expect(folder.status).toBe(200);
    expect(folder.headers.get('content-type')).toBe('application/zip');
    expect(folder.headers.get('content-disposition')).toContain('filename="docs.zip"');
    const bytes = Buffer.from(await folder.arrayBuffer());
    expect(Number(folder.headers.get('content-length'))).toBe(bytes.length);
    writeFileSync(join(dir.path, 'docs.zip'), bytes);
    const out = join(dir.path, 'docs-out');
    mkdirSync(out);
    await run('unzip', ['-q', join(dir.path, 'docs.zip'), '-d', out]);
    expect(readFileSync(join(out, 'docs', 'a.txt'), 'utf8')).toBe('alpha');
    expect(readFileSync(join(out, 'docs', 'deep', 'b.txt'), 'utf8')).toBe('beta');
    const sel = await as(token, '/api/v1/zip', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ paths: ['/docs/a.txt', '/pics'], name: 'picked' }) });
    expect(sel.headers.get('content-disposition')).toContain('filename="picked.zip"');
    writeFileSync(join(dir.path, 'picked.zip'), Buffer.from(await sel.arrayBuffer()));
    const { stdout } = await run('unzip', ['-Z1', join(dir.path, 'picked.zip')], { encoding: 'utf8' });
    expect(stdout.trim().split('\n').sort()).toEqual(['a.txt', 'pics/', 'pics/c.bin']);
    expect((await as(token, '/api/v1/zip?path=/nope')).status).toBe(404);
    expect((await as(token, '/api/v1/zip')).status).toBe(400);
  });

  it("a drop box's upload token works on the upload-session routes only, into its folder, never over a file", async () => {
    await as(token, '/api/v1/mkdir/inbox', { method: 'POST' });
    const link = await share(t, token, { path: '/inbox', kind: 'upload', password: 'drop-pass-1', maxUses: 2 });
    const key = new URL(link.url).pathname;
    const unlock = (password?: string) => fetch(t.url + key + '/unlock', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ password }) });
    expect((await unlock('wrong-pass')).status).toBe(401);
    const ok = await unlock('drop-pass-1');
    expect(ok.status).toBe(200);
    const { token: up } = (await ok.json()) as { token: string };
    expect(up).toMatch(/^ferryl_/);
    const data = randomBytes(2000);
    const refs = [{ hash: sha256(data), size: data.length }];
    const create = (path: string) => as(up, '/api/v1/uploads', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path, size: data.length, hash: fileHashOf(refs), chunks: refs }) });
    expect((await create('/sub/x.bin')).status).toBe(400);
    const session = (await (await create('/x.bin')).json()) as { id: string; missing: string[] };
    expect(session.missing).toEqual([refs[0].hash]);
    expect((await as(up, `/api/v1/uploads/${session.id}/chunks/${refs[0].hash}`, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
    const commit = await as(up, `/api/v1/uploads/${session.id}/commit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(commit.status).toBe(200);
    // The visitor sees the file's name, not where the owner keeps it.
    expect(((await commit.json()) as { files: { path: string }[] }).files[0].path).toBe('/x.bin');
    expect(Buffer.from(await (await as(token, '/api/v1/files/inbox/x.bin')).arrayBuffer()).equals(data)).toBe(true);
    // Never over an existing file.
    const again = (await (await create('/x.bin')).json()) as { id: string };
    const refused = await as(up, `/api/v1/uploads/${again.id}/commit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(refused.status).toBe(409);
    // The token opens nothing else.
    for (const path of ['/api/v1/list', '/api/v1/files/inbox/x.bin', '/api/v1/me']) expect((await as(up, path)).status, path).toBe(401);
    // Revoked: the token dies with the link.
    expect((await as(token, `/api/v1/shares/${link.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await create('/y.bin')).status).toBe(410);
  });
});
