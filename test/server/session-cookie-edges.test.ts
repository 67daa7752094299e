/**
 * Leftovers of the web round about what browsers keep and send (eleventh round):
 * - API answers (tokens, listings, account details) must not sit in a shared proxy's or the
 *   browser's disk cache: `Cache-Control: no-store`, while files and chunks keep the
 *   ETag caching docs/protocol.md promises;
 * - a refresh from the session cookie must come from a page of this server's scheme too,
 *   not only its host (`http://host` is not `https://host`);
 * - on plain HTTP off loopback the cookie is the plain `ferry_refresh`, which a sibling
 *   subdomain can plant beside ours: with two of them the refresh is refused, never
 *   continued in the planted account;
 * - a share link's unlock cookie planted the same way (longer path, sent first) no longer
 *   hides the visitor's own: the link stays unlocked.
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
import { get } from 'node:http';

let behindTls: TestServer;
let plain: TestServer;

beforeAll(async () => {
  behindTls = await startTestServer({ publicUrl: 'https://files.example.com' });
  plain = await startTestServer();
  for (const t of [behindTls, plain]) {
    await addUser(t, 'ada', { password: 'ada-password-1' });
    await addUser(t, 'mallory', { password: 'mallory-password-1' });
  }
}, 60_000);

afterAll(async () => {
  await behindTls?.close();
  await plain?.close();
});

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** A POST as a browser on `files.example.com` sends it (node:http: fetch sends the URL's Host). */
function post(t: TestServer, path: string, body: unknown, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(t.url + path, { method: 'POST', headers: { 'content-type': 'application/json', host: 'files.example.com', ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** A web session of `user`: the refresh cookie's `name=value`. */
async function sessionCookie(t: TestServer, user: string, name: string, origin: string): Promise<string> {
  const res = await post(t, '/api/v1/auth/session', { user, password: `${user}-password-1`, cookie: true }, { origin });
  expect(res.status, res.body).toBe(201);
  const set = ((res.headers['set-cookie'] ?? []) as string[]).find((c) => c.startsWith(name + '='));
  expect(set, `sets ${name}`).toBeDefined();
  return set!.split(';')[0]!;
}

describe('Cache-Control of API answers', () => {
  it('JSON answers with tokens, listings and account details are no-store', async () => {
    const t = plain;
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'ada-password-1' }) });
    expect(login.status).toBe(201);
    expect(login.headers.get('cache-control')).toBe('no-store');
    const token = ((await login.json()) as { token: string }).token;
    expect((await uploadBuffer(t, '/c.txt', Buffer.from('cached?'), 64 * 1024, { token })).status).toBe(200);
    for (const path of ['/api/v1/me', '/api/v1/list/', '/api/v1/tokens', '/api/v1/shares', '/api/v1/files/nope.txt']) {
      const res = await t.api(path, { token });
      await res.arrayBuffer();
      expect(res.headers.get('cache-control'), path).toBe('no-store');
    }
    const link = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/c.txt' }, token });
    expect(link.status).toBe(201);
    expect(link.headers.get('cache-control')).toBe('no-store');
  });

  it('files, manifests and chunks keep their ETag caching', async () => {
    const t = plain;
    expect((await uploadBuffer(t, '/etag.txt', Buffer.from('kept by etag'))).status).toBe(200);
    const file = await t.api('/api/v1/files/etag.txt');
    expect(await file.text()).toBe('kept by etag');
    expect(file.headers.get('cache-control')).toBe('private, no-cache');
    const again = await t.api('/api/v1/files/etag.txt', { headers: { 'if-none-match': file.headers.get('etag')! } });
    expect(again.status).toBe(304);
    const manifest = await t.api('/api/v1/manifests/etag.txt');
    const { chunks } = (await manifest.json()) as { chunks: { hash: string }[] };
    expect(manifest.headers.get('cache-control')).toBe('private, no-cache');
    const chunk = await t.api(`/api/v1/chunks/${chunks[0]!.hash}`);
    await chunk.arrayBuffer();
    expect(chunk.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
  });
});

describe('a refresh from the session cookie', () => {
  it('behind an https --public-url, refuses an http:// page of the same host', async () => {
    const cookie = await sessionCookie(behindTls, 'ada', '__Host-ferry_refresh', 'https://files.example.com');
    const fromHttp = await post(behindTls, '/api/v1/auth/refresh', {}, { origin: 'http://files.example.com', cookie });
    expect(fromHttp.status, fromHttp.body).toBe(403);
    expect(fromHttp.body).not.toContain('"token"');
    const cookie2 = await sessionCookie(behindTls, 'ada', '__Host-ferry_refresh', 'https://files.example.com');
    const fromHttps = await post(behindTls, '/api/v1/auth/refresh', {}, { origin: 'https://files.example.com', cookie: cookie2 });
    expect(fromHttps.status, fromHttps.body).toBe(200);
  });

  it('on plain HTTP off loopback, two ferry_refresh cookies (one planted) are refused', async () => {
    const ada = await sessionCookie(plain, 'ada', 'ferry_refresh', 'http://files.example.com');
    const planted = await sessionCookie(plain, 'mallory', 'ferry_refresh', 'http://files.example.com');
    // The browser sends the planted one (Domain=parent, longer Path) first.
    const both = await post(plain, '/api/v1/auth/refresh', {}, { origin: 'http://files.example.com', cookie: `${planted}; ${ada}` });
    expect(both.status, both.body).toBe(401);
    expect(both.body).toContain('two session cookies');
    expect(both.body).not.toContain('"token"');
    const alone = await post(plain, '/api/v1/auth/refresh', {}, { origin: 'http://files.example.com', cookie: ada });
    expect(alone.status, alone.body).toBe(200);
    expect(JSON.parse(alone.body).user.name).toBe('ada');
  });
});

describe("a share link's unlock cookie", () => {
  it('a planted ferry_share sent before the visitor\'s own does not lock the link again', async () => {
    const t = plain;
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mallory', password: 'mallory-password-1' }) });
    const token = ((await login.json()) as { token: string }).token;
    expect((await uploadBuffer(t, '/locked.txt', Buffer.from('behind a password'), 64 * 1024, { token })).status).toBe(200);
    const link = await share(t, token, { path: '/locked.txt', password: 'link-password-1' });
    const key = new URL(link.url).pathname;
    const unlock = await post(t, `${key}/unlock`, { password: 'link-password-1' }, { origin: 'http://files.example.com' });
    expect(unlock.status, unlock.body).toBeLessThan(300);
    const own = ((unlock.headers['set-cookie'] ?? []) as string[]).find((c) => c.startsWith('ferry_share='))!.split(';')[0]!;
    const download = (cookie: string) =>
      new Promise<number>((resolve, reject) => {
        get(`${t.url}${key}?download=1`, { headers: { host: 'files.example.com', cookie } }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode!));
        }).on('error', reject);
      });
    expect(await download(own)).toBe(200);
    expect(await download(`ferry_share=planted.by.a.sibling; ${own}`)).toBe(200);
    expect(await download('ferry_share=planted.by.a.sibling')).toBe(401);
  });
});

describe("a password link's files are not kept by the browser (eighteenth round)", () => {
  it('private, no-store through every door (cookie, Basic, Range, HEAD, a folder link\'s file); a link without a password keeps private, no-cache', async () => {
    const t = plain;
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mallory', password: 'mallory-password-1' }) });
    const token = ((await login.json()) as { token: string }).token;
    expect((await uploadBuffer(t, '/kept/payslip.txt', Buffer.from('a payslip behind a password'), 64 * 1024, { token })).status).toBe(200);
    const file = new URL((await share(t, token, { path: '/kept/payslip.txt', password: 'link-password-1' })).url).pathname;
    const folder = new URL((await share(t, token, { path: '/kept', password: 'link-password-1' })).url).pathname;
    const open = new URL((await share(t, token, { path: '/kept/payslip.txt' })).url).pathname;
    const unlock = await post(t, `${file}/unlock`, { password: 'link-password-1' }, { origin: 'http://files.example.com' });
    expect(unlock.status, unlock.body).toBeLessThan(300);
    const cookie = ((unlock.headers['set-cookie'] ?? []) as string[]).find((c) => c.startsWith('ferry_share='))!.split(';')[0]!;
    const basic = 'Basic ' + Buffer.from(':link-password-1').toString('base64');
    const answer = (path: string, method: string, headers: Record<string, string>) =>
      new Promise<{ status: number; cacheControl: string | undefined }>((resolve, reject) => {
        request(`${t.url}${path}`, { method, headers: { host: 'files.example.com', ...headers } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, cacheControl: res.headers['cache-control'] }));
        })
          .on('error', reject)
          .end();
      });
    const doors = [
      await answer(`${file}?download=1`, 'GET', { cookie }),
      await answer(file, 'GET', { authorization: basic }),
      await answer(file, 'GET', { authorization: basic, range: 'bytes=2-8' }),
      await answer(file, 'HEAD', { authorization: basic }),
      await answer(`${folder}/payslip.txt`, 'GET', { authorization: basic }),
    ];
    expect(doors.map((d) => d.status)).toEqual([200, 200, 206, 200, 200]);
    for (const d of doors) expect(d.cacheControl).toBe('private, no-store');
    expect(await answer(file, 'GET', { authorization: 'Basic ' + Buffer.from(':wrong-password').toString('base64') })).toMatchObject({ status: 401 });
    expect(await answer(open, 'GET', {})).toEqual({ status: 200, cacheControl: 'private, no-cache' });
  });
});

describe('Cache-Control of WebDAV and tus answers (twelfth round)', () => {
  it('PROPFIND listings, LOCK tokens and the other WebDAV answers are no-store; a file keeps its ETag caching', async () => {
    const t = plain;
    const basic = 'Basic ' + Buffer.from('ada:ada-password-1').toString('base64');
    const dav = (path: string, method: string, headers: Record<string, string> = {}, body?: string) => fetch(t.url + path, { method, headers: { authorization: basic, ...headers }, body });
    const put = await dav('/dav/private.txt', 'PUT', {}, 'a secret');
    expect(put.status).toBe(201);
    expect(put.headers.get('cache-control')).toBe('no-store');
    const answers = [
      await dav('/dav/', 'PROPFIND', { depth: '1' }),
      await dav('/dav/private.txt', 'PROPFIND', { depth: '0' }),
      await dav('/', 'PROPFIND', { depth: '1' }),
      await dav('/dav/private.txt', 'LOCK', { 'content-type': 'application/xml' }, '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>'),
      await dav('/dav/folder', 'MKCOL'),
      await dav('/dav/nope.txt', 'GET'),
    ];
    expect(answers.map((r) => r.status)).toEqual([207, 207, 207, 200, 201, 404]);
    for (const r of answers) {
      await r.arrayBuffer();
      expect(r.headers.get('cache-control'), r.url).toBe('no-store');
    }
    const file = await dav('/dav/private.txt', 'GET');
    expect(await file.text()).toBe('a secret');
    expect(file.headers.get('cache-control')).toBe('private, no-cache');
  });

  it('tus answers (offsets, upload URLs) are no-store', async () => {
    const t = plain;
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'ada-password-1' }) });
    const bearer = 'Bearer ' + ((await login.json()) as { token: string }).token;
    const create = await fetch(t.url + '/api/v1/tus', { method: 'POST', headers: { authorization: bearer, 'tus-resumable': '1.0.0', 'upload-length': '3', 'upload-metadata': 'filename ' + Buffer.from('tus.txt').toString('base64') } });
    expect(create.status).toBe(201);
    expect(create.headers.get('cache-control')).toBe('no-store');
    const head = await fetch(new URL(create.headers.get('location')!, t.url), { method: 'HEAD', headers: { authorization: bearer, 'tus-resumable': '1.0.0' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('cache-control')).toBe('no-store');
  });
});
