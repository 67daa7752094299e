/**
 * What a demanding first-time user meets on the Files page, in a desktop window and a phone's:
 * the quota line of an account with a quota stays in the window, and rows are selected as in a
 * desktop file manager (Shift+click, or Shift+Space from the keyboard, selects the range), and a
 * row renamed stays selected, its checkbox focused; an upload the server finished just before a
 * reload is shown done after it; a phone shows when each file changed and sorts by it; an empty
 * folder says what to do.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let token: string;

async function put(path: string, body: string): Promise<void> {
  const r = await fetch(t.url + '/api/v1/files' + path, { method: 'PUT', body, headers: { authorization: `Bearer ${token}` } });
  expect(r.status, path).toBe(201);
}

/** The names of the rows whose checkbox is ticked, top to bottom. */
async function ticked(page: Page): Promise<string[]> {
  return page.locator('table.folder tbody input[type=checkbox]:checked').evaluateAll((boxes) => boxes.map((b) => (b.getAttribute('aria-label') ?? '').replace(/^Select /, '')));
}

beforeAll(async () => {
  // Each test signs in (the auth routes' per-address limit of 30 a minute has its own tests).
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'noor', { password: 'noor-password-1', quotaBytes: 3_000_000, quotaFiles: 1000 });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'noor', password: 'noor-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  for (const name of ['a.txt', 'b.txt', 'c.txt', 'd.txt', 'e.txt', 'f.txt']) await put(`/${name}`, `content of ${name}`);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the quota line of an account with a quota', () => {
  for (const [width, height] of [
    [1280, 800],
    [900, 700],
    [390, 844],
  ]) {
    it(`stays in a ${width}-pixel window: the page does not scroll sideways, bars and figures inside it`, async () => {
      const { context, page, errors } = await freshContext(browser, { width, height });
      await signIn(page, t.url, 'noor', 'noor-password-1');
      const quota = page.locator('p.quota');
      await quota.getByText(/of 2\.9 MiB used/).waitFor();
      expect(await page.evaluate('document.documentElement.scrollWidth'), 'the page width').toBeLessThanOrEqual(width);
      for (const part of [quota, ...(await quota.locator('progress').all())]) {
        const box = (await part.boundingBox())!;
        expect(box.x, 'left edge').toBeGreaterThanOrEqual(0);
        expect(box.x + box.width, 'right edge').toBeLessThanOrEqual(width);
      }
      // The figures are read whole, after their bars.
      expect(await quota.textContent()).toMatch(/of 2\.9 MiB used.*6 files of 1,000/);
      expect(errors).toEqual([]);
      await context.close();
    });
  }
});

describe('selecting rows', () => {
  it('Shift+click selects every row from the last one clicked; Shift+click again unselects a range; a plain click still toggles one', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.getByRole('checkbox', { name: 'Select b.txt' }).click();
    await page.getByRole('checkbox', { name: 'Select e.txt' }).click({ modifiers: ['Shift'] });
    expect(await ticked(page)).toEqual(['b.txt', 'c.txt', 'd.txt', 'e.txt']);
    // Shift+click in a page selects its text between the clicks: here, nothing is highlighted.
    expect(await page.evaluate('getSelection().toString()')).toBe('');
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('4 selected');
    // From e.txt (the last clicked), up to c.txt: unselected, as the row clicked becomes.
    await page.getByRole('checkbox', { name: 'Select c.txt' }).click({ modifiers: ['Shift'] });
    expect(await ticked(page)).toEqual(['b.txt']);
    await page.getByRole('checkbox', { name: 'Select f.txt' }).click();
    expect(await ticked(page)).toEqual(['b.txt', 'f.txt']);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('from the keyboard: Space ticks a row, Shift+Space on another ticks the rows between; the toolbar then acts on all of them', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.getByRole('checkbox', { name: 'Select a.txt' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('checkbox', { name: 'Select c.txt' }).focus();
    await page.keyboard.press('Shift+Space');
    expect(await ticked(page)).toEqual(['a.txt', 'b.txt', 'c.txt']);
    expect(await page.evaluate("document.activeElement?.getAttribute('aria-label')")).toBe('Select c.txt');
    await expect.poll(() => page.getByRole('button', { name: 'Download as zip' }).isEnabled()).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a range is of the rows in the order shown: sorted Z to A, from f.txt to d.txt is f, e and d', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.getByRole('checkbox', { name: 'Select f.txt' }).click();
    await page.getByRole('button', { name: 'Name', exact: true }).click();
    // Sorted Z to A: f, e, d, c, b, a.
    await page.getByRole('checkbox', { name: 'Select d.txt' }).click({ modifiers: ['Shift'] });
    expect(await ticked(page)).toEqual(['f.txt', 'e.txt', 'd.txt']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('after a rename', () => {
  it('from the keyboard: the renamed row stays selected under its new name and its checkbox has the focus, not the page', async () => {
    await put('/draft.txt', 'a draft');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.getByRole('checkbox', { name: 'Select draft.txt' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Rename' }).focus();
    await page.keyboard.press('Enter');
    // The stem is selected: typing keeps ".txt".
    await expect.poll(() => page.evaluate("document.activeElement?.closest('dialog') !== null")).toBe(true);
    await page.keyboard.type('final');
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Open final.txt' }).waitFor();
    await expect.poll(() => page.evaluate("document.activeElement?.getAttribute('aria-label')")).toBe('Select final.txt');
    expect(await ticked(page)).toEqual(['final.txt']);
    expect(await page.getByRole('button', { name: 'Rename' }).isEnabled()).toBe(true);
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('1 selected');
    // Escape after a refused rename leaves the row as it was, the focus on Rename.
    await page.getByRole('button', { name: 'Rename' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate("document.activeElement?.closest('dialog') !== null")).toBe(true);
    await page.keyboard.press('Control+A');
    await page.keyboard.type('a.txt');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/a\.txt already exists here/);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.evaluate('document.activeElement?.textContent')).toBe('Rename');
    expect(await ticked(page)).toEqual(['final.txt']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a reload during an upload', () => {
  /** Saves uploads as the app does while they run (web/src/idb.ts), as a reload would find them. */
  async function savePending(page: Page, records: Array<Record<string, unknown>>): Promise<void> {
    const save = new Function(
      'records',
      `return new Promise((resolve, reject) => {
        const req = indexedDB.open('ferry', 1);
        req.onupgradeneeded = () => req.result.createObjectStore('uploads', { keyPath: 'id' }).createIndex('scope', 'scope');
        req.onsuccess = () => {
          const t = req.result.transaction('uploads', 'readwrite');
          for (const r of records) t.objectStore('uploads').put(r);
          t.oncomplete = () => { req.result.close(); resolve(undefined); };
          t.onerror = () => reject(t.error);
        };
        req.onerror = () => reject(req.error);
      });`,
    ) as (records: unknown) => Promise<void>;
    await page.evaluate(save, records);
  }

  it('that came after the server took the file says it is done, not "pick the file again" (which then asked to replace it); an unfinished one still asks for its file', async () => {
    const mtime = 1_700_000_000_123;
    const r = await fetch(`${t.url}/api/v1/files/finished.bin?mtime=${mtime}`, { method: 'PUT', body: Buffer.alloc(5000, 7), headers: { authorization: `Bearer ${token}` } });
    expect(r.status).toBe(201);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await savePending(page, [
      { id: 'u-finished', scope: 'user:noor', path: '/finished.bin', name: 'finished.bin', size: 5000, lastModified: mtime, bytesDone: 4000 },
      { id: 'u-half', scope: 'user:noor', path: '/half.bin', name: 'half.bin', size: 9000, lastModified: mtime, bytesDone: 3000 },
      // Another file of that name is there (other size and time): this upload is not it.
      { id: 'u-other', scope: 'user:noor', path: '/a.txt', name: 'a.txt', size: 5000, lastModified: mtime, bytesDone: 1000 },
    ]);
    await page.reload();
    const row = (path: string) => page.locator(`li.upload[aria-label^="${path}:"]`);
    await expect.poll(() => row('/finished.bin').getAttribute('data-state')).toBe('done');
    expect(await row('/finished.bin').innerText()).toMatch(/4\.9 KiB of 4\.9 KiB · finished before the page was reloaded/);
    expect(await row('/half.bin').getAttribute('data-state')).toBe('needs-file');
    expect(await row('/half.bin').innerText()).toContain('interrupted: pick the file again to resume');
    expect(await row('/a.txt').getAttribute('data-state')).toBe('needs-file');
    await expect.poll(() => page.getByRole('status').first().textContent()).toContain('Uploads: 1 done, 2 interrupted: pick the file again to resume.');
    // Its saved state is gone: the next reload does not bring it back.
    await page.reload();
    await row('/half.bin').waitFor();
    expect(await row('/finished.bin').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('on a phone, without the Modified column', () => {
  it('each row says when it was modified, under its name, and "Sort by" puts the newest first; a desktop window has the column and no such menu', async () => {
    for (const [name, mtime] of [
      ['old.txt', Date.UTC(2024, 0, 2, 9, 30)],
      ['new.txt', Date.UTC(2026, 5, 1, 12, 0)],
      ['mid.txt', Date.UTC(2025, 2, 3, 8, 0)],
    ] as const) {
      const r = await fetch(`${t.url}/api/v1/files/dated/${name}?mtime=${mtime}`, { method: 'PUT', body: name, headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(201);
    }
    const names = (page: Page) => page.locator('table.folder tbody button.link').evaluateAll((b) => b.map((x) => x.getAttribute('aria-label')));
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.goto(t.url + '/files/dated');
    await page.getByRole('button', { name: 'Open old.txt' }).waitFor();
    expect(await page.getByRole('columnheader', { name: 'Modified' }).isVisible()).toBe(false);
    const row = page.locator('tr', { has: page.getByRole('button', { name: 'Open new.txt' }) });
    const when = row.locator('td.name .phone-only');
    expect(await when.isVisible()).toBe(true);
    expect(await when.textContent()).toMatch(/^2026-06-01 \d\d:\d\d$/);
    // Under the name, inside the window.
    const nameBox = (await row.getByRole('button', { name: 'Open new.txt' }).boundingBox())!;
    const whenBox = (await when.boundingBox())!;
    expect(whenBox.y).toBeGreaterThanOrEqual(nameBox.y + nameBox.height - 1);
    expect(whenBox.x + whenBox.width).toBeLessThanOrEqual(390);
    const sortBy = page.getByLabel('Sort by');
    expect(await sortBy.isVisible()).toBe(true);
    await sortBy.selectOption({ label: 'Newest first' });
    expect(await names(page)).toEqual(['Open new.txt', 'Open mid.txt', 'Open old.txt']);
    await sortBy.selectOption({ label: 'Oldest first' });
    expect(await names(page)).toEqual(['Open old.txt', 'Open mid.txt', 'Open new.txt']);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    // The column's header and the menu say the same order.
    await sortBy.selectOption({ label: 'Name, A to Z' });
    expect(await names(page)).toEqual(['Open mid.txt', 'Open new.txt', 'Open old.txt']);
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await sortBy.isVisible()).toBe(false);
    expect(await when.isVisible()).toBe(false);
    await page.getByRole('button', { name: 'Modified', exact: true }).click();
    expect(await names(page)).toEqual(['Open old.txt', 'Open mid.txt', 'Open new.txt']);
    expect(await sortBy.inputValue()).toBe('mtime asc');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a new user\'s empty Files page', () => {
  it('says what to do: upload with the buttons; on a touch phone it does not say to drop files (there is nothing to drag), with a mouse it does', async () => {
    await addUser(t, 'fresh', { password: 'fresh-password-1' });
    for (const touch of [true, false]) {
      const context = await browser.newContext(touch ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, t.url, 'fresh', 'fresh-password-1');
      const empty = page.getByRole('cell', { name: /^This folder is empty\./ });
      await empty.waitFor();
      expect(await empty.textContent()).toBe('This folder is empty. Upload files or a whole folder into it with the buttons above.');
      expect(await page.getByRole('button', { name: 'Upload files' }).isVisible()).toBe(true);
      expect(await page.getByText('Drop files or folders anywhere on this page').isVisible(), touch ? 'touch' : 'mouse').toBe(!touch);
      expect(errors).toEqual([]);
      await context.close();
    }
  });
});

describe('changing the password', () => {
  it('says the rule before it is broken, and holds back a short or mistyped new password in words a person reads (not "newPassword must have…"); a good one goes through', async () => {
    await addUser(t, 'pavel', { password: 'pavel-password-1' });
    const { context, page, errors } = await freshContext(browser);
    const sent: string[] = [];
    page.on('request', (r) => r.url().includes('/me/password') && sent.push(r.method()));
    await signIn(page, t.url, 'pavel', 'pavel-password-1');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Account' }).click();
    const field = page.getByLabel('New password', { exact: true });
    await field.waitFor();
    // The rule is read with the field, and shown under it.
    expect(await page.locator('#pw-rule').textContent()).toBe('8 characters or more.');
    expect(await field.getAttribute('aria-describedby')).toBe('pw-rule');
    await page.getByLabel('Current password').fill('pavel-password-1');
    await field.fill('short');
    await page.getByLabel('New password again').fill('short');
    await page.keyboard.press('Enter');
    const alert = page.getByRole('alert');
    await expect.poll(() => alert.textContent()).toBe('The new password is too short: use 8 characters or more.');
    expect(await field.getAttribute('aria-describedby')).toBe('pw-rule pw-error');
    await field.fill('pavel-password-2');
    await page.getByLabel('New password again').fill('pavel-password-3');
    await page.keyboard.press('Enter');
    await expect.poll(() => alert.textContent()).toBe('The two new passwords differ: type the same one in both fields.');
    expect(sent).toEqual([]);
    await page.getByLabel('New password again').fill('pavel-password-2');
    await page.keyboard.press('Enter');
    // Changed: the page signs out, saying why.
    await page.getByText('Password changed: sign in with the new one.').waitFor();
    expect(sent).toEqual(['POST']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("a drop box's page on a touch phone", () => {
  it('offers Choose files, not to drop files (a phone has none to drag); with a mouse it says both', async () => {
    const drop = await share(t, token, { path: '/', kind: 'upload' });
    for (const touch of [true, false]) {
      const context = await browser.newContext(touch ? { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true } : { viewport: { width: 1280, height: 800 } });
      const page = await context.newPage();
      await page.goto(drop.url);
      await page.getByText('Choose files').waitFor();
      expect(await page.getByText('Drop files here, or').isVisible(), touch ? 'touch' : 'mouse').toBe(!touch);
      await context.close();
    }
  });
});

describe('the Tokens page on a phone', () => {
  it('says what each token may do under its name (its Scopes and Path columns are left out there); a desktop window shows the columns instead', async () => {
    await tokenFor(t, 'noor', { name: 'photo backup', scopes: ['list', 'read'], pathPrefix: '/photos' });
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'noor', 'noor-password-1');
    await page.goto(t.url + '/tokens');
    const row = page.locator('tr', { hasText: 'photo backup' });
    const what = row.locator('td').first().locator('.phone-only');
    await what.waitFor();
    expect(await what.innerText()).toBe('list, read · only below /photos');
    const box = (await what.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await what.isVisible()).toBe(false);
    expect(await row.getByRole('cell', { name: 'list, read', exact: true }).isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });
});
