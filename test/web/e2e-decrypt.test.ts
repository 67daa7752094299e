/**
 * End-to-end encrypted files in real Chromium: files encrypted by the real CLI, then
 *   - a share link made by `ferry share` carries the file key after '#'; a visitor's
 *     browser decrypts the file to the right bytes, and no request it makes carries the key;
 *     a link with another key fails with a message and offers nothing;
 *   - the owner, signed in, opens the vault with its passphrase (a wrong one is refused
 *     first) and downloads the file decrypted, scrypt and AES-GCM running in the page under the app's CSP.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const PASS = 'a long passphrase for the vault';
const NAME = 'secret-plans.txt';

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };
let plain: Buffer;
let ferry: (args: string[]) => ReturnType<typeof runFerry>;

beforeAll(async () => {
  t = await startTestServer();
  dir = await tempDir('ferry-web-e2e-');
  await addUser(t, 'olga', { password: 'olga-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'olga', password: 'olga-password-1' }) });
  const token = ((await login.json()) as { token: string }).token;
  writeFileSync(join(dir.path, 'pass'), PASS + '\n');
  const env = { FERRY_SERVER: t.url, FERRY_TOKEN: token, FERRY_CONFIG: join(dir.path, 'config.json'), HOME: dir.path };
  ferry = (args) => runFerry([...args, '--passphrase-file', join(dir.path, 'pass')], { env });
  // Several chunks, so that the page decrypts more than one.
  plain = Buffer.concat([Buffer.from('the plans\n'), randomBytes(3 * 1024 * 1024 + 12345)]);
  writeFileSync(join(dir.path, NAME), plain);
  expect((await ferry(['mkdir', '--e2e', '/vault'])).code).toBe(0);
  const put = await ferry(['put', join(dir.path, NAME), '/vault/']);
  expect(put.code, put.stderr).toBe(0);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('end-to-end encrypted files in the browser', () => {
  it('a share link decrypts in the visitor\'s browser; the key in its fragment never reaches the server', async () => {
    const made = await ferry(['share', `/vault/${NAME}`, '--expires', '1d']);
    expect(made.code, made.stderr).toBe(0);
    const url = made.stdout.trim();
    const key = /#k=([A-Za-z0-9_-]{43})$/.exec(url)?.[1];
    expect(key, url).toBeDefined();

    const { context, page, errors } = await freshContext(browser);
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url() + ' ' + JSON.stringify(r.headers())));
    await page.goto(url);
    await page.getByRole('heading', { name: 'End-to-end encrypted file' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Decrypt and download' }).click()]);
    expect(download.suggestedFilename()).toBe(NAME);
    const saved = join(dir.path, 'from-link.txt');
    await download.saveAs(saved);
    expect(sha(readFileSync(saved))).toBe(sha(plain));
    await page.getByText(`Decrypted and verified: ${NAME}`).waitFor();
    expect(requested.length).toBeGreaterThan(1);
    for (const r of requested) expect(r).not.toContain(key);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a link with another key says so and offers no file', async () => {
    const made = await ferry(['share', `/vault/${NAME}`]);
    const url = made.stdout.trim().replace(/#k=.*$/, `#k=${randomBytes(32).toString('base64url')}`);
    const { context, page } = await freshContext(browser);
    let downloads = 0;
    page.on('download', () => downloads++);
    await page.goto(url);
    await page.getByRole('button', { name: 'Decrypt and download' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/key in the link does not open this file/);
    expect(downloads).toBe(0);
    await context.close();
  });

  it('the owner downloads the file decrypted after typing the passphrase; a wrong one is refused', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'olga', 'olga-password-1');
    await page.goto(t.url + '/files/vault');
    // A vault: its passphrase first (checked against its marker), then the plain names.
    const pass = page.getByLabel('Passphrase');
    await pass.fill('not the passphrase');
    await page.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 30_000 }).toMatch(/passphrase/);
    await pass.fill(PASS);
    await page.getByRole('button', { name: 'Unlock' }).click();
    await page.getByRole('checkbox', { name: `Select ${NAME}` }).check({ timeout: 60_000 });
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Download', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe(NAME);
    const saved = join(dir.path, 'by-owner.txt');
    await download.saveAs(saved);
    expect(sha(readFileSync(saved))).toBe(sha(plain));
    expect(errors).toEqual([]);
    await context.close();
  });
});
