/**
 * The file list's edges in real Chromium against a real server: a long name (without a
 * space, and with spaces) keeps its icon beside it and wraps inside the window, on a desktop
 * and on a phone; a folder that is not there (a mistyped address, or one deleted while the
 * page showed it) says so and links to the nearest folder above it that exists; the versions
 * dialog opened after another client replaced the file shows the new current content and
 * the one it replaced, and after another client deleted it, says so.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, screenshot, signIn } from './browser.js';

const UNSPACED = 'a'.repeat(116) + '.txt'; // 120 characters, no place to break
const SPACED = 'the minutes of the long meeting about the quarterly budget review held in the large room on the third floor.txt';

let t: TestServer;
let browser: Browser;
let token: string;

const filesPath = (p: string) => `/api/v1/files${p.split('/').map(encodeURIComponent).join('/')}`;

async function put(path: string, body: string): Promise<void> {
  const r = await fetch(t.url + filesPath(path), { method: 'PUT', body, headers: { authorization: `Bearer ${token}` } });
  expect([200, 201], path).toContain(r.status);
}

beforeAll(async () => {
  t = await startTestServer({ versions: { keep: 5, days: 0, paths: {} } });
  await addUser(t, 'lena', { password: 'lena-password-1' });
  const r = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'lena', password: 'lena-password-1' }) });
  expect(r.status).toBe(201);
  token = ((await r.json()) as { token: string }).token;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

/** Where a row's icon is, and where the first and last characters of its name are drawn. */
async function nameLayout(page: Page, name: string) {
  const row = page.getByRole('row').filter({ has: page.getByRole('checkbox', { name: `Select ${name}`, exact: true }) });
  return row.locator('td.name').evaluate((cell) => {
    const icon = cell.querySelector('svg.icon')!.getBoundingClientRect();
    const doc = cell.ownerDocument;
    const text = doc.createTreeWalker(cell, 4 /* NodeFilter.SHOW_TEXT */).nextNode()!;
    const range = doc.createRange();
    const char = (i: number) => {
      range.setStart(text, i);
      range.setEnd(text, i + 1);
      const r = range.getClientRects()[0];
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    };
    return {
      icon: { left: icon.left, right: icon.right, top: icon.top, bottom: icon.bottom },
      first: char(0),
      last: char(text.textContent!.length - 1),
      cellRight: cell.getBoundingClientRect().right,
      window: doc.documentElement.clientWidth,
    };
  });
}

describe('web app: long names, folders that are not there, versions after another client', () => {
  for (const [label, width, height] of [
    ['desktop', 1280, 800],
    ['phone', 390, 844],
  ] as const) {
    it(`a long name keeps its icon beside it and wraps inside the window (${label})`, async () => {
      await put(`/long/${UNSPACED}`, 'x');
      await put(`/long/${SPACED}`, 'y');
      await put(`/long/${UNSPACED.replace('.txt', '')}/inside.txt`, 'z');
      const { context, page, errors } = await freshContext(browser, { width, height });
      await signIn(page, t.url, 'lena', 'lena-password-1');
      await page.getByRole('link', { name: 'long', exact: true }).click();
      await page.getByRole('checkbox', { name: `Select ${SPACED}` }).waitFor();
      await screenshot(page, `long-names-${label}`);
      for (const name of [UNSPACED, SPACED, UNSPACED.replace('.txt', '')]) {
        const at = await nameLayout(page, name);
        // The icon on the name's first line, left of it; not on a line of its own above it.
        expect(at.icon.right, name).toBeLessThanOrEqual(at.first.left + 0.5);
        expect(at.icon.bottom, name).toBeGreaterThan(at.first.top);
        expect(at.icon.top, name).toBeLessThan(at.first.bottom);
        // The name wraps (whole: its last character is drawn below its first) and stays in the window.
        expect(at.last.top, name).toBeGreaterThan(at.first.top);
        expect(at.last.right, name).toBeLessThanOrEqual(at.window);
        expect(at.cellRight, name).toBeLessThanOrEqual(at.window);
        // Wrapped lines start beside the icon, not under it.
        expect(at.last.left, name).toBeGreaterThanOrEqual(at.icon.right - 0.5);
      }
      // The whole name is there to read, and to hear.
      await page.getByRole('button', { name: `Open ${UNSPACED}`, exact: true }).waitFor();
      await page.getByRole('link', { name: UNSPACED.replace('.txt', ''), exact: true }).waitFor();
      expect(errors).toEqual([]);
      await context.close();
    });
  }

  it('an address to a folder that is not there says so and links to the nearest folder that exists; the breadcrumbs work', async () => {
    await put('/Projects/plan.txt', 'plan');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'lena', 'lena-password-1');
    await page.goto(t.url + '/files/Projects/nope/deeper');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toMatch(/^This folder does not exist: \/Projects\/nope\/deeper\./);
    await screenshot(page, 'missing-folder');
    // The crumbs still lead somewhere: one that is not there either says the same.
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('link', { name: 'nope', exact: true }).click();
    await expect.poll(() => alert.textContent()).toMatch(/^This folder does not exist: \/Projects\/nope\./);
    const back = page.getByRole('link', { name: 'Open /Projects, the nearest folder that exists', exact: true });
    await back.click();
    await page.getByRole('checkbox', { name: 'Select plan.txt' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/files/Projects');
    expect(await alert.count()).toBe(0);
    // Nothing above exists but the top: it is the way back.
    await page.goto(t.url + '/files/nowhere/at/all');
    await page.getByRole('link', { name: 'Open My files, the nearest folder that exists', exact: true }).click();
    await page.getByRole('checkbox', { name: 'Select Projects' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/files');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a folder deleted while the page shows it: opening its subfolder says it is not there and links to the nearest that is', async () => {
    await put('/Archive/2025/q1/report.txt', 'q1');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'lena', 'lena-password-1');
    await page.goto(t.url + '/files/Archive/2025');
    await page.getByRole('link', { name: 'q1', exact: true }).waitFor();
    // Another client deletes the folder shown.
    const r = await fetch(t.url + filesPath('/Archive/2025') + '?recursive=1', { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(204);
    await page.getByRole('link', { name: 'q1', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^This folder does not exist: \/Archive\/2025\/q1\./);
    await page.getByRole('link', { name: 'Open /Archive, the nearest folder that exists', exact: true }).click();
    await page.getByText('This folder is empty.').waitFor();
    expect(new URL(page.url()).pathname).toBe('/files/Archive');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the versions dialog, opened after another client replaced the file, shows the new content as current and the old as a version', async () => {
    await put('/draft.txt', 'version one');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'lena', 'lena-password-1');
    const select = page.getByRole('checkbox', { name: 'Select draft.txt' });
    await select.waitFor();
    await put('/draft.txt', 'version two, which is longer');
    await select.check();
    await page.getByRole('button', { name: 'Versions' }).click();
    const dialog = page.getByRole('dialog', { name: 'Versions of draft.txt' });
    await dialog.getByRole('button', { name: /^Restore the version replaced .* \(11 B\)$/ }).waitFor();
    await expect.poll(() => dialog.locator('p.hint').textContent()).toMatch(/^Now: 28 B, modified /);
    // The list behind the dialog follows too.
    const row = page.getByRole('row').filter({ has: select });
    await expect.poll(() => row.innerText()).toContain('28 B');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the versions dialog, opened after another client deleted the file, says it is no longer here; the list behind it drops it', async () => {
    await put('/gone.txt', 'soon deleted');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'lena', 'lena-password-1');
    const select = page.getByRole('checkbox', { name: 'Select gone.txt' });
    await select.waitFor();
    const r = await fetch(t.url + filesPath('/gone.txt'), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(204);
    await select.check();
    await page.getByRole('button', { name: 'Versions' }).click();
    const dialog = page.getByRole('dialog', { name: 'Versions of gone.txt' });
    await expect.poll(() => dialog.locator('p.hint').textContent()).toBe('gone.txt is no longer here: it was moved or deleted since the folder was listed.');
    await expect.poll(() => select.count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});
