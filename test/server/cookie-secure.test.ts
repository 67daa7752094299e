/**
 * Behind a proxy that ends TLS, with `--public-url https://…` and no `--trust-proxy`, the
 * requests reach Ferry as plain HTTP: its cookies (the web session's refresh token, a share
 * link's unlock) must still carry `Secure`, or the browser sends them over plain HTTP to the
 * same host, where anyone on the path reads them. A server on plain HTTP without such a URL
 * keeps setting them without `Secure` (browsers would drop them otherwise).
 */
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';

let behindTls: TestServer;
let plain: TestServer;

beforeAll(async () => {
  behindTls = await startTestServer({ publicUrl: 'https://files.example.com' });
  plain = await startTestServer();
  for (const t of [behindTls, plain]) await addUser(t, 'ada', { password: 'ada-password-1' });
}, 60_000);

afterAll(async () => {
  await behindTls?.close();
  await plain?.close();
});

/** The Set-Cookie of `name` in a request as a browser on `files.example.com` sends it (not loopback). */
async function cookieOf(t: TestServer, path: string, body: unknown, name: string): Promise<string> {
  // node:http, not fetch: fetch sends the Host of the URL whatever the headers say.
  const { status, cookies } = await new Promise<{ status: number; cookies: string[] }>((resolve, reject) => {
    const req = request(t.url + path, { method: 'POST', headers: { 'content-type': 'application/json', host: 'files.example.com', origin: 'https://files.example.com' } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, cookies: res.headers['set-cookie'] ?? [] }));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
  expect(status, `${path}: ${status}`).toBeLessThan(300);
  const set = cookies.find((c) => c.startsWith(name + '='));
  expect(set, `${path} sets ${name}`).toBeDefined();
  return set!;
}

async function unlockCookie(t: TestServer): Promise<string> {
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ada', password: 'ada-password-1' }) });
  const token = ((await login.json()) as { token: string }).token;
  const put = await fetch(t.url + '/api/v1/files/a.txt', { method: 'PUT', body: 'a', headers: { authorization: `Bearer ${token}` } });
  expect(put.status).toBe(201);
  const s = await share(t, token, { path: '/a.txt', password: 'link-password-1' });
  const key = new URL(s.url).pathname;
  return cookieOf(t, `${key}/unlock`, { password: 'link-password-1' }, 'ferry_share');
}

describe('cookies behind an https --public-url', () => {
  it('the session cookie and a link\'s unlock cookie carry Secure', async () => {
    const session = await cookieOf(behindTls, '/api/v1/auth/session', { user: 'ada', password: 'ada-password-1', cookie: true }, '__Host-ferry_refresh');
    expect(session).toMatch(/; Secure(;|$)/);
    expect(session).toMatch(/HttpOnly/);
    expect(await unlockCookie(behindTls)).toMatch(/; Secure(;|$)/);
  });

  it('on plain HTTP without one they do not (a browser would drop them)', async () => {
    const session = await cookieOf(plain, '/api/v1/auth/session', { user: 'ada', password: 'ada-password-1', cookie: true }, 'ferry_refresh');
    expect(session).not.toMatch(/Secure/);
    expect(await unlockCookie(plain)).not.toMatch(/Secure/);
  });
});
