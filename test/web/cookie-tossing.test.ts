/**
 * Cookie tossing from a sibling subdomain, in real Chromium against a real server over TLS.
 * A page on `evil.ferry.test` may set cookies for all of `ferry.test`: before the fix it set
 * its own account's refresh cookie (`ferry_refresh`, `Domain=ferry.test`) with a longer path
 * than the app's, the browser sent it first, and the victim's next page load on
 * `app.ferry.test` went on, silently, in the attacker's account (whatever the victim then
 * uploaded was the attacker's). The app's cookie is now a `__Host-` one, which the browser
 * takes only from the app's own host, and the server reads no other.
 */
import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { CHROMIUM, CHROMIUM_ARGS } from './browser.js';

let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  t = await startTestServer({ tlsSelfSigned: true, tlsHostnames: ['app.ferry.test'] });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP *.ferry.test 127.0.0.1'], headless: true });
  // Through the browser's client: Node's fetch does not take the self-signed certificate.
  const admin = await browser.newContext({ ignoreHTTPSErrors: true });
  for (const name of ['alice', 'mallory']) {
    const r = await admin.request.post(`${t.url}/api/v1/users`, { headers: { authorization: `Bearer ${t.token}` }, data: { name, password: `${name}-password-1` } });
    expect(r.status(), await r.text()).toBe(201);
  }
  await admin.close();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('a sibling subdomain', () => {
  it('cannot put its own session in the place of the signed-in person\'s', async () => {
    const port = new URL(t.url).port;
    const app = `https://app.ferry.test:${port}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    // The attacker's own web session, whose refresh token the sibling site plants.
    const own = await context.request.post(`${t.url}/api/v1/auth/session`, { data: { user: 'mallory', password: 'mallory-password-1' } });
    expect(own.status()).toBe(201);
    const planted = ((await own.json()) as { refreshToken: string }).refreshToken;
    const page = await context.newPage();
    await page.goto(app + '/');
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('alice-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const header = page.locator('header');
    await header.getByText('alice').waitFor();
    // The sibling's page sets cookies for the whole domain, every name the app has used.
    await context.route('https://evil.ferry.test/**', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'text/plain',
        headers: {
          'set-cookie': [
            `ferry_refresh=${planted}; Domain=ferry.test; Path=/api/v1/auth/refresh; Secure; HttpOnly`,
            `ferry_refresh=${planted}; Domain=ferry.test; Path=/; Secure; HttpOnly`,
            `__Host-ferry_refresh=${planted}; Domain=ferry.test; Path=/; Secure; HttpOnly`,
          ].join('\n'),
        },
        body: 'hello',
      }),
    );
    await page.goto('https://evil.ferry.test/');
    const tossed = (await context.cookies()).filter((c) => c.domain === '.ferry.test');
    expect(tossed.map((c) => c.name).sort(), 'the sibling\'s cookies took (the attack is real)').toEqual(['ferry_refresh', 'ferry_refresh']);
    await page.goto(app + '/files');
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    expect(await header.innerText()).toContain('alice');
    expect(await header.innerText()).not.toContain('mallory');
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/refresh', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).json());
    expect((me as { user: { name: string } }).user.name).toBe('alice');
    await context.close();
  });
});
