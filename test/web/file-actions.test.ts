/**
 * What the web app shows when an action goes wrong partway or cannot do what it says:
 * a move, copy or delete of several items that fails on one of them (the listing shows what
 * was done, the dialog what is left), a Copy button whose clipboard refuses, a server that
 * cannot be reached, and an upload over a file of the same name (asked, never silent).
 */
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let token: string;

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
}

async function put(path: string, body: string): Promise<void> {
  expect((await api(`/api/v1/files${path}`, { method: 'PUT', body })).status, path).toBe(201);
}

async function exists(path: string): Promise<boolean> {
  return (await api(`/api/v1/stat${path}`)).status === 200;
}

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'mia', { password: 'mia-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mia', password: 'mia-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('actions on several items', () => {
  it('a move that fails on the second of three items: the listing shows the first one gone, the dialog keeps the two left, and a second try moves only those', async () => {
    for (const p of ['/from/a.txt', '/from/b.txt', '/from/c.txt', '/to/b.txt']) await put(p, `content of ${p}`);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'from' }).click();
    await page.getByRole('button', { name: 'Open c.txt' }).waitFor();
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    await page.getByRole('button', { name: 'Move' }).click();
    await page.getByLabel('To folder').fill('/to');
    await page.getByRole('dialog').getByRole('button', { name: 'Move' }).click();
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/b\.txt.*already exists/);
    // a.txt went; the page behind the dialog says so, and the dialog is about the two left.
    expect(await exists('/to/a.txt')).toBe(true);
    await expect.poll(() => page.getByRole('button', { name: 'Open a.txt' }).count()).toBe(0);
    await dialog.getByRole('heading', { name: 'Move 2 items' }).waitFor();
    // A second try into another folder moves b and c (not a again, which would fail).
    await page.getByLabel('To folder').fill('/elsewhere');
    expect((await api('/api/v1/mkdir/elsewhere', { method: 'POST' })).status).toBe(201);
    await dialog.getByRole('button', { name: 'Move' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    await page.getByText('This folder is empty.').waitFor();
    expect([await exists('/elsewhere/b.txt'), await exists('/elsewhere/c.txt'), await exists('/elsewhere/a.txt')]).toEqual([true, true, false]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a delete that fails on one item: the listing shows what was deleted, the confirmation names what is left', async () => {
    for (const p of ['/del/one.txt', '/del/two.txt', '/del/three.txt']) await put(p, `content of ${p}`);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'del' }).click();
    await page.getByRole('button', { name: 'Open two.txt' }).waitFor();
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    // Someone else removes the second one (by name order: three.txt) before the delete reaches it.
    expect((await api('/api/v1/files/del/three.txt', { method: 'DELETE' })).status).toBeLessThan(300);
    await page.getByRole('button', { name: 'Delete' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('Delete these 3 items', { exact: false }).waitFor();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/three\.txt/);
    expect(await exists('/del/one.txt')).toBe(false);
    await expect.poll(() => page.getByRole('button', { name: 'Open one.txt' }).count()).toBe(0);
    await dialog.getByText('Delete these 2 items', { exact: false }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the Copy button of a link shown once', () => {
  /** Makes the share dialog of /note.txt and clicks Copy link, with the page's clipboard made to refuse as told. */
  async function copyLink(execCommandWorks: boolean) {
    await put('/note.txt', 'a note');
    const { context, page, errors } = await freshContext(browser);
    // As in a page served over plain HTTP from another machine: no usable Clipboard API.
    await page.addInitScript(`
      Object.defineProperty(navigator, 'clipboard', { value: { writeText: () => Promise.reject(new DOMException('Write permission denied.', 'NotAllowedError')) } });
      window.copied = [];
      document.addEventListener('copy', () => window.copied.push(document.getSelection().toString() || (document.activeElement && document.activeElement.value)));
      if (!${execCommandWorks}) document.execCommand = () => false;
    `);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('checkbox', { name: 'Select note.txt' }).check();
    await page.getByRole('button', { name: 'Share' }).click();
    await page.getByRole('button', { name: 'Create link' }).click();
    const url = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    await page.getByRole('button', { name: 'Copy link' }).click();
    return { context, page, errors, url };
  }

  it('says it could not copy when no way of copying works, never "Copied"', async () => {
    const { context, page, errors } = await copyLink(false);
    await expect.poll(() => page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/Could not copy/);
    expect(await page.getByRole('button', { name: 'Copied' }).count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('copies from a selection when the Clipboard API refuses, and then says "Copied"', async () => {
    const { context, page, errors, url } = await copyLink(true);
    await page.getByRole('button', { name: 'Copied' }).waitFor();
    expect(await page.evaluate('window.copied')).toEqual([url]);
    expect(await page.getByRole('dialog').getByRole('alert').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('when the server cannot be reached', () => {
  it('an action says the server could not be reached (after its retries), not only the browser\'s "Failed to fetch"', async () => {
    await put('/net/keep.txt', 'kept');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'net' }).click();
    await page.getByRole('checkbox', { name: 'Select keep.txt' }).check();
    // As if the server went away: every request of the rename fails in the network.
    await page.route('**/api/v1/move', (route) => route.abort('connectionrefused'));
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('renamed.txt');
    await page.getByRole('dialog').getByRole('button', { name: 'Rename' }).click();
    await page.getByRole('dialog').getByRole('alert').filter({ hasText: 'The server could not be reached' }).waitFor({ timeout: 45_000 });
    expect(await page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/check the network connection, then try again \(POST \/api\/v1\/move: Failed to fetch\)/);
    expect(await exists('/net/keep.txt')).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  }, 60_000);
});

describe('uploading over a file of the same name', () => {
  it('asks before replacing: nothing is sent until Replace; then the file is replaced; Cancel leaves it', async () => {
    await put('/dup/same.txt', 'the original, precious');
    await put('/dup/other.txt', 'another original');
    const local = await tempDir('ferry-web-dup-');
    writeFileSync(`${local.path}/same.txt`, 'a new version');
    writeFileSync(`${local.path}/other.txt`, 'not wanted');
    writeFileSync(`${local.path}/fresh.txt`, 'a new file');
    const { context, page, errors } = await freshContext(browser);
    let chunkRequests = 0;
    page.on('request', (r) => {
      if (/\/api\/v1\/uploads/.test(r.url()) && r.method() !== 'GET') chunkRequests++;
    });
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'dup' }).click();
    await page.getByRole('checkbox', { name: 'Select same.txt' }).waitFor();
    await page.getByTestId('upload-files').setInputFiles([`${local.path}/same.txt`, `${local.path}/other.txt`, `${local.path}/fresh.txt`]);
    await page.locator('li.upload[data-state=done]').first().waitFor();
    await expect.poll(() => page.locator('li.upload[data-state=failed]').count()).toBe(2);
    const same = page.locator('li.upload', { hasText: '/dup/same.txt' });
    expect(await same.getByRole('alert').textContent()).toBe('same.txt already exists here: replace it, or cancel this upload.');
    const sessionsForFresh = chunkRequests;
    // Nothing of the two was sent, and the files are as they were.
    expect(await (await api('/api/v1/files/dup/same.txt')).text()).toBe('the original, precious');
    expect(await (await api('/api/v1/files/dup/other.txt')).text()).toBe('another original');
    expect(await (await api('/api/v1/files/dup/fresh.txt')).text()).toBe('a new file');
    await page.getByRole('button', { name: 'Replace /dup/same.txt' }).click();
    await expect.poll(() => page.locator('li.upload[data-state=done]').count()).toBe(2);
    expect(chunkRequests).toBeGreaterThan(sessionsForFresh);
    expect(await (await api('/api/v1/files/dup/same.txt')).text()).toBe('a new version');
    await page.getByRole('button', { name: 'Cancel other.txt' }).click();
    await expect.poll(() => page.locator('li.upload[data-state=failed]').count()).toBe(0);
    expect(await (await api('/api/v1/files/dup/other.txt')).text()).toBe('another original');
    expect(errors).toEqual([]);
    await context.close();
    await local.cleanup();
  });
});

describe('rename', () => {
  it("refuses a name with '/' (it would move the file into new folders) and says to use Move", async () => {
    await put('/ren/note.txt', 'a note');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'ren' }).click();
    await page.getByRole('checkbox', { name: 'Select note.txt' }).check();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('sub/note.txt');
    await page.getByRole('dialog').getByRole('button', { name: 'Rename' }).click();
    await expect.poll(() => page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/cannot contain '\/'.*use Move/);
    expect([await exists('/ren/note.txt'), await exists('/ren/sub')]).toEqual([true, false]);
    expect(errors).toEqual([]);
    await context.close();
  });
});
