/**
 * The web app in real Chromium against a real server: sign-in, browsing and file actions,
 * uploads of a large file and of a folder through the browser's own chunker (compared byte
 * for byte with what the server holds), downloads of a file and of a zip, previews, share
 * links, tokens, the admin pages, axe-core on every main page, keyboard-only use, a phone
 * sized window. Writes the README's screenshots (docs/screenshots/).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, FileChooser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkFile } from '../../src/algo/chunk-file.js';
import { DEFAULT_CHUNKING } from '../../src/core/manifest.js';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { readMetric } from '../helpers/server.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { expectAccessible, freshContext, launch, screenshot, signIn } from './browser.js';

const MiB = 1024 * 1024;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };
let aliceToken: string;

async function apiAs(token: string, path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
}

async function fileBytes(token: string, path: string): Promise<Buffer> {
  const r = await apiAs(token, `/api/v1/files${path.split('/').map(encodeURIComponent).join('/')}`);
  expect(r.status, path).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

/** Presses Tab (or `key`: ArrowRight along a toolbar) until the focused element has this accessible name (keyboard only). */
async function tabTo(page: Page, name: string | RegExp, max = 60, key = 'Tab'): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press(key);
    const label = await page.evaluate(() => {
      // (The page's DOM; typed loosely: this file compiles without the DOM library.)
      const doc = (globalThis as unknown as { document: { activeElement: Dom | null; querySelector(s: string): Dom | null } }).document;
      type Dom = { id: string; textContent: string | null; getAttribute(n: string): string | null };
      const el = doc.activeElement;
      if (!el) return '';
      const labelled = el.getAttribute('aria-label') ?? (el.id ? doc.querySelector(`label[for="${el.id}"]`)?.textContent : null);
      return (labelled ?? el.textContent ?? '').trim();
    });
    if (typeof name === 'string' ? label === name : name.test(label)) return;
  }
  throw new Error(`${key} never reached ${String(name)}`);
}

beforeAll(async () => {
  t = await startTestServer();
  dir = await tempDir('ferry-web-');
  await addUser(t, 'alice', { password: 'alice-password-1', quotaBytes: 4 * 1024 * MiB });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'alice', password: 'alice-password-1' }) });
  aliceToken = ((await login.json()) as { token: string }).token;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('web app', () => {
  it('sign-in: a wrong password shows the server\'s message, the right one opens the files; the session survives a reload', async () => {
    const { context, page, errors } = await freshContext(browser);
    await page.goto(t.url + '/');
    await expect.poll(() => page.title()).toBe('Sign in · Ferry');
    await expectAccessible(page, 'sign-in page');
    await screenshot(page, 'sign-in');
    await page.getByLabel('User name').fill('alice');
    await page.getByLabel('Password').fill('not-her-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Wrong user name or password');
    // An API token (as the admin token the first start prints) pasted as the password: said so, with what to do
    await page.getByLabel('Password').fill((await tokenFor(t, 'alice')).token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('that password is an API token (ferry_…), which never signs in with a user name; make the user a password with ferry user add NAME --password');
    await page.getByLabel('Password').fill('alice-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('This folder is empty.').waitFor();
    expect(page.url()).toBe(t.url + '/files');
    // Nothing to zip in an empty folder, nor in one that does not exist: no Download folder (zip).
    expect(await page.getByRole('button', { name: 'Download folder (zip)' }).count()).toBe(0);
    await page.goto(t.url + '/files/no-such-folder');
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('button', { name: 'Download folder (zip)' }).count()).toBe(0);
    await page.goto(t.url + '/files');
    await page.getByText('This folder is empty.').waitFor();
    // The refresh token is an HttpOnly, SameSite=Strict cookie scripts cannot read.
    const cookies = await context.cookies();
    const refresh = cookies.find((c) => c.name === '__Host-ferry_refresh');
    expect(refresh?.httpOnly).toBe(true);
    expect(refresh?.sameSite).toBe('Strict');
    expect(refresh?.path).toBe('/');
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie)).toBe('');
    await page.reload();
    await page.getByText('This folder is empty.').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('browse: creates a folder, goes in and out by breadcrumbs, renames it, deletes it after confirmation', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Folder name').fill('Holiday photos');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('link', { name: 'Holiday photos' }).click();
    await page.getByText('This folder is empty.').waitFor();
    expect(decodeURIComponent(new URL(page.url()).pathname)).toBe('/files/Holiday photos');
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('link', { name: 'My files' }).click();
    await page.getByRole('checkbox', { name: 'Select Holiday photos' }).check();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('Trips');
    await page.getByRole('button', { name: 'Rename', exact: true }).last().click();
    await page.getByRole('link', { name: 'Trips' }).waitFor();
    expect((await apiAs(aliceToken, '/api/v1/stat/Trips')).status).toBe(200);
    expect((await apiAs(aliceToken, '/api/v1/stat/Holiday%20photos')).status).toBe(404);
    // A name that exists already: the API's error, shown in the dialog.
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Folder name').fill('Trips');
    await page.getByRole('button', { name: 'Create' }).click();
    await expect.poll(() => page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/exists/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('checkbox', { name: 'Select Trips' }).check();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByText('Delete Trips and everything in it?').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    expect((await apiAs(aliceToken, '/api/v1/stat/Trips')).status).toBe(200);
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.getByText('This folder is empty.').waitFor();
    expect((await apiAs(aliceToken, '/api/v1/stat/Trips')).status).toBe(404);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('uploads a 50 MiB file and a folder of 20 files from the browser: the server holds their exact bytes, cut as the CLI cuts them; the same file again sends nothing', async () => {
    const big = join(dir.path, 'big.bin');
    await writeRandomFile(big, 50 * MiB);
    const folder = join(dir.path, 'album');
    mkdirSync(join(folder, 'inner'), { recursive: true });
    const small: Record<string, Buffer> = {};
    for (let i = 0; i < 20; i++) {
      const rel = i < 15 ? `photo-${i}.jpg` : `inner/note-${i}.txt`;
      small[rel] = randomBytes(1000 + i * 9000);
      writeFileSync(join(folder, rel), small[rel]);
    }
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByTestId('upload-files').setInputFiles(big);
    await page.getByTestId('upload-folder').setInputFiles(folder);
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 120_000, interval: 500 }).toBe(21);
    expect(await page.locator('li.upload[data-state=failed]').count()).toBe(0);
    await screenshot(page, 'files-uploaded');

    expect(sha(await fileBytes(aliceToken, '/big.bin'))).toBe(sha(readFileSync(big)));
    for (const [rel, bytes] of Object.entries(small)) expect(sha(await fileBytes(aliceToken, `/album/${rel}`)), rel).toBe(sha(bytes));
    // The browser cut the file with the CLI's chunker (same WebAssembly kernel and parameters).
    const manifest = (await (await apiAs(aliceToken, '/api/v1/manifests/big.bin')).json()) as { chunks: { hash: string; size: number }[] };
    const local: { hash: string; size: number }[] = [];
    for await (const batch of chunkFile(big, DEFAULT_CHUNKING, { workers: 0 })) for (const r of batch) local.push({ hash: r.hash, size: r.size });
    expect(manifest.chunks).toEqual(local);
    expect(local.length).toBeGreaterThan(20);

    // Dedup from the browser: the same bytes under another name travel not at all.
    const before = await readMetric({ url: t.url, adminToken: t.token }, 'ferry_chunk_body_bytes_received_total');
    writeFileSync(join(dir.path, 'again.bin'), readFileSync(big));
    await page.getByTestId('upload-files').setInputFiles(join(dir.path, 'again.bin'));
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(22);
    expect(await readMetric({ url: t.url, adminToken: t.token }, 'ferry_chunk_body_bytes_received_total')).toBe(before);
    await page.getByText(/50 MiB already on the server/).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('downloads a file and a folder as one zip from the browser; both hold the uploaded bytes', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('checkbox', { name: 'Select big.bin' }).check();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe('big.bin');
    const saved = join(dir.path, 'downloaded.bin');
    await download.saveAs(saved);
    expect(sha(readFileSync(saved))).toBe(sha(readFileSync(join(dir.path, 'big.bin'))));

    await page.getByRole('checkbox', { name: 'Select big.bin' }).uncheck();
    await page.getByRole('checkbox', { name: 'Select album' }).check();
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as zip' }).click()]);
    expect(zip.suggestedFilename()).toBe('album.zip');
    const zipPath = join(dir.path, 'album.zip');
    await zip.saveAs(zipPath);
    const out = join(dir.path, 'unzipped');
    mkdirSync(out);
    execFileSync('unzip', ['-q', zipPath, '-d', out]);
    const names = [...readdirSync(join(out, 'album')), ...readdirSync(join(out, 'album', 'inner')).map((n) => `inner/${n}`)].filter((n) => n !== 'inner').sort();
    expect(names).toHaveLength(20);
    for (const n of names) expect(sha(readFileSync(join(out, 'album', n))), n).toBe(sha(readFileSync(join(dir.path, 'album', n))));
    expect(errors).toEqual([]);
    await context.close();
  });

  it('previews images, text (never run as HTML), PDF and video, which seeks with Range requests', async () => {
    // A 1×1 PNG, an HTML file with a script, a tiny PDF, "video" bytes (only the Range answers matter).
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
    const html = Buffer.from('<h1 id="x">hello</h1><script>window.ran = true</script>');
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n');
    for (const [name, bytes] of [['dot.png', png], ['page.html', html], ['doc.pdf', pdf], ['clip.mp4', randomBytes(300_000)]] as const) {
      const r = await apiAs(aliceToken, `/api/v1/files/previews/${name}`, { method: 'PUT', body: bytes });
      expect(r.status).toBe(201);
    }
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('link', { name: 'previews' }).click();

    await page.getByRole('button', { name: 'Open dot.png' }).click();
    const img = page.getByRole('img', { name: 'Preview of dot.png' });
    await expect.poll(() => img.evaluate((el) => (el as unknown as { complete: boolean; naturalWidth: number }).complete && (el as unknown as { naturalWidth: number }).naturalWidth)).toBe(1);
    await expectAccessible(page, 'image preview');
    await page.getByRole('button', { name: 'Close' }).click();

    await page.getByRole('button', { name: 'Open page.html' }).click();
    const text = page.getByLabel('Text of page.html');
    await expect.poll(() => text.textContent()).toBe(html.toString());
    expect(await page.evaluate('window.ran')).toBeUndefined();
    expect(await page.locator('#x').count()).toBe(0);
    await page.getByRole('button', { name: 'Close' }).click();

    await page.getByRole('button', { name: 'Open doc.pdf' }).click();
    const frame = page.locator('iframe[title="PDF doc.pdf"]');
    const pdfSrc = (await frame.getAttribute('src'))!;
    const pdfHead = await page.evaluate(async (src) => {
      const r = await fetch(src);
      return { status: r.status, type: r.headers.get('content-type'), csp: r.headers.get('content-security-policy') };
    }, pdfSrc);
    expect(pdfHead).toEqual({ status: 200, type: 'application/pdf', csp: "default-src 'none'; frame-ancestors 'self'" });
    await page.getByRole('button', { name: 'Close' }).click();

    await page.getByRole('button', { name: 'Open clip.mp4' }).click();
    const video = page.getByLabel('Video clip.mp4');
    const src = (await video.getAttribute('src'))!;
    const ranged = await page.evaluate(async (s) => {
      const r = await fetch(s, { headers: { range: 'bytes=200000-200099' } });
      return { status: r.status, range: r.headers.get('content-range'), length: (await r.arrayBuffer()).byteLength, type: r.headers.get('content-type') };
    }, src);
    expect(ranged).toEqual({ status: 206, range: 'bytes 200000-200099/300000', length: 100, type: 'video/mp4' });
    await page.getByRole('button', { name: 'Close' }).click();

    // The HTML file, fetched inline by URL, is plain text in a sandbox: never a page of ours.
    const inline = await apiAs(aliceToken, '/api/v1/files/previews/page.html?inline=1');
    expect(inline.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(inline.headers.get('content-security-policy')).toMatch(/^sandbox;/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('share links and API tokens: created, shown once, listed, revoked; the password is changed', async () => {
    const { context, page, errors } = await freshContext(browser);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: t.url });
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('checkbox', { name: 'Select big.bin' }).check();
    await page.getByRole('button', { name: 'Share' }).click();
    await page.getByLabel('Expires after').selectOption('7 days');
    await page.getByLabel('Downloads allowed (optional)').fill('3');
    await page.getByRole('button', { name: 'Create link' }).click();
    const link = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    expect(link).toMatch(new RegExp(`^${t.url}/s/[A-Za-z0-9_-]{43}$`));
    await page.getByRole('button', { name: 'Copy link' }).click();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(link);
    await page.getByRole('button', { name: 'Done' }).click();
    const head = await fetch(link, { method: 'HEAD' });
    expect(head.status).toBe(200);

    // A drop box with a byte cap: the link takes 1 KiB in all, the listing shows it.
    await page.getByRole('checkbox', { name: 'Select big.bin' }).uncheck();
    await page.getByRole('checkbox', { name: 'Select album' }).check();
    await page.getByRole('button', { name: 'Share' }).click();
    await page.getByLabel('Kind of link').selectOption('upload');
    await page.getByLabel('Bytes accepted in all (optional: 500M, 2G)').fill('1K');
    await page.getByRole('button', { name: 'Create link' }).click();
    const drop = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    await page.getByRole('button', { name: 'Done' }).click();
    expect((await fetch(`${drop}/fits.bin`, { method: 'PUT', body: Buffer.alloc(1000, 1) })).status).toBe(201);
    expect((await fetch(`${drop}/over.bin`, { method: 'PUT', body: Buffer.alloc(25, 2) })).status).toBe(413);
    await page.getByRole('checkbox', { name: 'Select album' }).uncheck();

    await page.getByRole('link', { name: 'Share links' }).click();
    await page.getByRole('cell', { name: '/big.bin', exact: true }).waitFor();
    await page.getByRole('cell', { name: '1000 B / 1.0 KiB', exact: true }).waitFor();
    await expectAccessible(page, 'share links page');
    await screenshot(page, 'share-links');
    await page.getByRole('button', { name: 'Revoke link big.bin (/big.bin)' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('cell', { name: 'revoked' }).waitFor();
    expect((await fetch(link)).status).toBe(410);

    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByRole('button', { name: 'New token' }).click();
    await page.getByLabel('Name').fill('backup script');
    for (const s of ['write', 'delete', 'mkdir', 'share']) await page.getByRole('checkbox', { name: s }).uncheck();
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = await page.getByRole('textbox', { name: 'Token' }).inputValue();
    expect(token).toMatch(/^ferry_[0-9a-f]{16}_/);
    await page.getByRole('button', { name: 'Done' }).click();
    await page.getByRole('cell', { name: 'backup script', exact: true }).waitFor();
    expect((await apiAs(token, '/api/v1/list')).status).toBe(200);
    expect((await apiAs(token, '/api/v1/mkdir/nope', { method: 'POST' })).status).toBe(403);
    await expectAccessible(page, 'tokens page');
    await page.getByRole('button', { name: 'Revoke token backup script' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('cell', { name: 'backup script', exact: true }).count()).toBe(0);
    expect((await apiAs(token, '/api/v1/list')).status).toBe(401);

    await page.getByRole('link', { name: 'Account' }).click();
    await expectAccessible(page, 'account page');
    await page.getByLabel('Current password').fill('wrong-current');
    await page.getByLabel('New password', { exact: true }).fill('alice-password-2');
    await page.getByLabel('New password again').fill('alice-password-2');
    await page.getByRole('button', { name: 'Change password' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('Wrong user name or password');
    await page.getByLabel('Current password').fill('alice-password-1');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await signIn(page, t.url, 'alice', 'alice-password-2');
    expect(errors).toEqual([]);
    await context.close();
    // Back to the password the other tests use.
    const r = await t.api('/api/v1/users/alice/password', { method: 'PUT', json: { password: 'alice-password-1' } });
    expect(r.status).toBe(204);
  });

  it('admin pages: users (create, disable, quota, grants), audit log with filters, bans, server stats', async () => {
    await addUser(t, 'root2', { password: 'root2-password', role: 'admin' });
    // Two addresses the defender has banned (loopback itself is on its safe list here).
    for (let i = 0; i < 20; i++) t.server.ctx.defender.record('192.0.2.7', 'invalid');
    expect(t.server.ctx.defender.bans().map((b) => b.ip)).toContain('192.0.2.7');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'root2', 'root2-password');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('cell', { name: 'alice', exact: true }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('carol');
    await page.getByLabel('Password').fill('carol-password-1');
    await page.getByLabel('Quota (e.g. 10GiB or 10GB; empty: none)').fill('500M');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('cell', { name: 'carol', exact: true }).waitFor();
    let carol = (await (await t.api('/api/v1/users/carol')).json()) as { quotaBytes: number; disabled: boolean; grants: { path: string; permissions: string[] }[] };
    expect(carol.quotaBytes).toBe(500 * MiB);
    await page.getByRole('button', { name: 'Disable carol' }).click();
    await page.getByRole('button', { name: 'Enable carol' }).waitFor();
    carol = (await (await t.api('/api/v1/users/carol')).json()) as typeof carol;
    expect(carol.disabled).toBe(true);
    await page.getByRole('button', { name: 'Quota of carol' }).click();
    await page.getByLabel('Bytes (e.g. 500M, 10GiB or 10GB; empty: no limit)').fill('2G');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: '2.0 GiB' }).waitFor();
    await page.getByRole('button', { name: 'Grants of carol' }).click();
    await page.getByLabel('Path (relative to the home)').fill('/shared');
    await page.getByRole('checkbox', { name: 'list' }).check();
    await page.getByRole('checkbox', { name: 'read' }).check();
    await page.getByRole('button', { name: 'Set grant' }).click();
    await page.getByText('/shared').waitFor();
    await expectAccessible(page, 'admin users page, grants dialog');
    await page.getByRole('button', { name: 'Close' }).click();
    await expectAccessible(page, 'admin users page');
    await screenshot(page, 'admin-users');
    carol = (await (await t.api('/api/v1/users/carol')).json()) as typeof carol;
    expect(carol.grants).toContainEqual({ path: '/shared', permissions: ['list', 'read'] });

    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByLabel('User').fill('root2');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(async () => { const users = await page.locator('table.audit tbody tr td:nth-child(4)').allTextContents(); return users.length > 0 && users.every((u) => u === 'root2'); }).toBe(true);
    // innerText: the event as shown (the cell also holds its target for a phone, hidden here).
    const events = await page.locator('table.audit tbody tr td:nth-child(2)').allInnerTexts();
    expect(events).toEqual(expect.arrayContaining(['user.create', 'user.update', 'user.grant']));
    await page.getByLabel('Event (or prefix, e.g. auth.)').fill('auth.');
    await page.getByLabel('User').fill('');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(async () => { const events = await page.locator('table.audit tbody tr td:nth-child(2)').allInnerTexts(); return events.length > 0 && events.every((e) => e.startsWith('auth.')); }).toBe(true);
    await expectAccessible(page, 'audit page');

    await page.getByRole('link', { name: 'Bans' }).click();
    await page.getByRole('cell', { name: '192.0.2.7', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Lift the ban of 192.0.2.7' }).click();
    await page.getByText('No address is banned.').waitFor();
    expect(t.server.ctx.defender.bans()).toEqual([]);

    await page.getByRole('link', { name: 'Server' }).click();
    await page.getByText('Dedup ratio').waitFor();
    const stats = (await (await t.api('/api/v1/admin/stats')).json()) as { files: number; logicalBytes: number; storedBytes: number };
    await page.getByRole('definition').filter({ hasText: `${(stats.logicalBytes / stats.storedBytes).toFixed(2)} : 1` }).waitFor();
    await expectAccessible(page, 'server stats page');
    await screenshot(page, 'admin-stats');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('keyboard only: uploads a file and makes a share link without the mouse', async () => {
    const file = join(dir.path, 'keyboard.txt');
    writeFileSync(file, 'typed, not clicked\n');
    const { context, page, errors } = await freshContext(browser);
    // Listened for long before Enter: Playwright turns on Chromium's file chooser
    // interception when the first listener is added, asynchronously; a chooser opened
    // before that is a native dialog no event reports (seen on a loaded machine).
    const chooser = new Promise<FileChooser>((resolve) => page.once('filechooser', resolve));
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('link', { name: 'big.bin' }).or(page.getByRole('button', { name: 'Open big.bin' })).waitFor();
    await page.locator('body').focus();
    // The toolbar is one Tab stop (its first button), its buttons along it by arrow keys.
    await tabTo(page, 'New folder');
    await tabTo(page, 'Upload files', 12, 'ArrowRight');
    await page.keyboard.press('Enter');
    await (await chooser).setFiles(file);
    await page.locator('li.upload[data-state=done]').waitFor();
    await page.getByRole('button', { name: 'Open keyboard.txt' }).waitFor();
    await page.locator('body').focus();
    await tabTo(page, 'Select keyboard.txt');
    await page.keyboard.press('Space');
    // Back into the toolbar at the button last used, then along it.
    await tabTo(page, 'Upload files');
    await tabTo(page, 'Share', 12, 'ArrowRight');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Share keyboard.txt' }).waitFor();
    // Focus is in the dialog: its fields, in order, then the submit button.
    await tabTo(page, 'Password (optional, 8 characters or more)');
    await page.keyboard.type('kb-secret');
    await tabTo(page, 'Create link');
    await page.keyboard.press('Enter');
    const link = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    expect(link).toContain('/s/');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    const got = await fetch(link, { headers: { authorization: `Basic ${Buffer.from(':kb-secret').toString('base64')}` } });
    expect(await got.text()).toBe('typed, not clicked\n');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('works in a phone-sized window: no sideways scrolling, every action reachable', async () => {
    const { context, page, errors } = await freshContext(browser, { width: 375, height: 740 });
    await signIn(page, t.url, 'alice', 'alice-password-1');
    await page.getByRole('button', { name: 'Open big.bin' }).waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth + 1')).toBe(true);
    for (const name of ['New folder', 'Upload files', 'Upload folder', 'Delete']) {
      const box = await page.getByRole('button', { name, exact: true }).boundingBox();
      expect(box, name).not.toBeNull();
      expect(box!.x + box!.width, name).toBeLessThanOrEqual(375);
    }
    await expectAccessible(page, 'files page, narrow');
    await screenshot(page, 'files-phone');
    await page.getByRole('link', { name: 'Share links' }).click();
    await page.getByRole('heading', { name: 'Share links' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});
