/**
 * What a person used to other file managers expects of the web app, each seen in Chromium:
 * the Delete key opens the delete confirmation (not while typing); focus goes back to what
 * opened a dialog; the delete confirmation says what really happens (an empty folder is gone
 * for good even on a server with a trash, which keeps files); the Tokens page says when
 * there are none; the Admin page does not offer to disable the signed-in admin (nor does the
 * server allow it); and "10 GB" typed as a quota is 10^9 bytes, "10 GiB" 10 × 2^30, as in the CLI.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let token: string;
let dir: string;

async function api(path: string, init: RequestInit = {}, as = token): Promise<Response> {
  return fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${as}`, 'content-type': 'application/json', ...(init.headers as Record<string, string>) } });
}

async function put(path: string, body: string): Promise<void> {
  expect((await api(`/api/v1/files${path}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream' } })).status, path).toBe(201);
}

async function mkdir(path: string): Promise<void> {
  expect((await api(`/api/v1/mkdir${path}`, { method: 'POST' })).status, path).toBe(201);
}

async function trashed(): Promise<string[]> {
  const r = await api('/api/v1/trash');
  return ((await r.json()) as { entries: Array<{ path: string }> }).entries.map((e) => e.path).sort();
}

/** The accessible name (or id) of what has the focus in the page. */
async function focused(page: Page): Promise<string> {
  return page.evaluate(`(() => { const e = document.activeElement; return e ? (e.getAttribute('aria-label') || e.id || e.textContent.trim()) : ''; })()`);
}

/** Waits until the page has drawn twice: a render that a key press started has happened by then. */
async function rendered(page: Page): Promise<void> {
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
}

beforeAll(async () => {
  // Each test signs in (on the auth routes' per-address limit): no limit here, it has its own tests.
  t = await startTestServer({ trashDays: 7, rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'mia', { password: 'mia-password-1' });
  await addUser(t, 'boss', { password: 'boss-password-1', role: 'admin' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mia', password: 'mia-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  dir = mkdtempSync(join(tmpdir(), 'ferry-web-expect-'));
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the sign-in page, for a first visitor', () => {
  it('says how an account is made, and that the admin token is no password', async () => {
    const { context, page, errors } = await freshContext(browser);
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    const hint = page.getByText('No account yet?');
    await expect.poll(() => hint.textContent()).toMatch(/The server's admin makes one \(on the server's machine: ferry user add NAME --password, .*\)\. The admin token is not a password\./);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('signing in with the keyboard only', () => {
  it('the user name field has the focus on arrival, and after a refused password (sent with the Sign in button) the password field has it, its text selected to be typed again', async () => {
    const { context, page, errors } = await freshContext(browser);
    await page.goto(t.url + '/');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await expect.poll(() => focused(page)).toBe('user');
    await page.keyboard.type('mia');
    await page.keyboard.press('Tab');
    await page.keyboard.type('not-her-password');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('Sign in');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').waitFor();
    await expect.poll(() => focused(page)).toBe('password');
    await page.keyboard.type('mia-password-1');
    await page.keyboard.press('Enter');
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the keyboard and the focus in the file list', () => {
  it('Delete with a row selected opens the delete confirmation, not while typing in the filter; closing a dialog gives the focus back to what opened it', async () => {
    await put('/keys/a.txt', 'a');
    await put('/keys/b.txt', 'b');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'keys' }).click();
    await page.getByRole('checkbox', { name: 'Select a.txt' }).check();
    await page.keyboard.press('Delete');
    const dialog = page.getByRole('dialog');
    await expect.poll(() => dialog.textContent()).toMatch(/Delete a\.txt\? Files go to the trash for 7 days\./);
    // Escape closes it, nothing deleted, the focus back on the row's checkbox.
    await page.keyboard.press('Escape');
    await expect.poll(() => dialog.count()).toBe(0);
    await expect.poll(() => focused(page)).toBe('Select a.txt');
    expect((await api('/api/v1/stat/keys/a.txt')).status).toBe(200);

    // In the filter, Delete edits the text: no dialog, with the row still selected.
    await page.getByLabel('Filter by name').fill('txt');
    await page.getByLabel('Filter by name').press('Home');
    await page.getByLabel('Filter by name').press('Delete');
    await rendered(page);
    expect(await dialog.count()).toBe(0);
    expect(await page.getByLabel('Filter by name').inputValue()).toBe('xt');
    await page.getByLabel('Filter by name').fill('');

    // Cancel of a dialog opened with a button: the focus back on that button.
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => dialog.count()).toBe(0);
    await expect.poll(() => focused(page)).toBe('New folder');

    // A delete that takes the selection (the Delete button is disabled then): the focus on the page's main region, not lost.
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await expect.poll(() => page.getByRole('checkbox', { name: 'Select a.txt' }).count()).toBe(0);
    await expect.poll(() => focused(page)).toBe('main');
    expect(await trashed()).toContain('/keys/a.txt');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('what the delete confirmation says, on a server with a trash', () => {
  it('an empty folder (or one of empty folders) is gone for good and says so; a folder with a file says its files go to the trash', async () => {
    for (const d of ['/folders', '/folders/empty', '/folders/nested', '/folders/nested/inner']) await mkdir(d);
    await put('/folders/full/f.txt', 'f');
    const before = await trashed();
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'folders' }).click();
    const dialog = page.getByRole('dialog');
    const confirmDelete = async (names: string[], says: RegExp) => {
      for (const n of names) await page.getByRole('checkbox', { name: `Select ${n}` }).check();
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      await expect.poll(() => dialog.textContent()).toMatch(says);
      await dialog.getByRole('button', { name: 'Delete' }).click();
      for (const n of names) await expect.poll(() => page.getByRole('checkbox', { name: `Select ${n}` }).count()).toBe(0);
    };
    await confirmDelete(['empty'], /Delete empty and everything in it\? It holds no files, so nothing goes to the trash: it is gone for good\./);
    await confirmDelete(['nested'], /Delete nested and everything in it\? It holds no files, so nothing goes to the trash: it is gone for good\./);
    // What it said holds: nothing of them in the trash.
    expect(await trashed()).toEqual(before);
    await confirmDelete(['full'], /Delete full and everything in it\? Files go to the trash for 7 days\./);
    expect(await trashed()).toEqual([...before, '/folders/full/f.txt'].sort());
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('what the delete confirmation says in an end-to-end folder (vault), on a server with a trash', () => {
  it('an empty folder there is gone for good and says so; one with a file says its files go to the trash; and so it is', async () => {
    const pass = join(dir, 'vault-pass');
    writeFileSync(pass, 'a passphrase for the delete wording\n');
    writeFileSync(join(dir, 'kept.txt'), 'kept in the trash');
    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: token, FERRY_CONFIG: join(dir, 'config-vault.json'), HOME: dir };
    const ferry = (args: string[]) => runFerry([...args, '--passphrase-file', pass], { env });
    for (const args of [['mkdir', '--e2e', '/safe'], ['mkdir', '/safe/empty'], ['put', join(dir, 'kept.txt'), '/safe/full/kept.txt']]) {
      const r = await ferry(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const before = await trashed();
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'safe' }).click();
    await page.getByLabel('Passphrase').fill('a passphrase for the delete wording');
    await page.getByRole('button', { name: 'Unlock' }).click();
    const dialog = page.getByRole('dialog');
    const confirmDelete = async (name: string, says: RegExp) => {
      await page.getByRole('checkbox', { name: `Select ${name}` }).check();
      await page.getByRole('button', { name: 'Delete', exact: true }).click();
      await expect.poll(() => dialog.textContent()).toMatch(says);
      await dialog.getByRole('button', { name: 'Delete' }).click();
      await expect.poll(() => page.getByRole('checkbox', { name: `Select ${name}` }).count()).toBe(0);
    };
    await confirmDelete('empty', /Delete empty and everything in it\? It holds no files, so nothing goes to the trash: it is gone for good\./);
    expect(await trashed()).toEqual(before);
    await confirmDelete('full', /Delete full and everything in it\? Files go to the trash for 7 days\./);
    const now = await trashed();
    expect(now.length).toBe(before.length + 1);
    expect(now.find((p) => !before.includes(p))).toMatch(/^\/safe\//);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("an address in the Files pages that is not a folder's", () => {
  it("a file's own address opens its folder with the file selected and said so, ready to download (not a 'not a directory' error over a toolbar that cannot work)", async () => {
    await put('/addressed/report.txt', 'the report');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.goto(t.url + '/files/addressed/report.txt');
    await page.waitForURL(t.url + '/files/addressed');
    await expect.poll(() => page.getByLabel('Select report.txt').isChecked()).toBe(true);
    await page.locator('p.notice').filter({ hasText: 'report.txt is a file, not a folder: here it is in its folder, selected.' }).waitFor();
    expect(await page.getByRole('alert').count()).toBe(0);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe('report.txt');
    // Back goes to the page before, not to the file's address that would open the folder again.
    await page.goBack();
    await page.waitForURL(t.url + '/files');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a folder that is not there says so and what to do (its path, not "no such file or directory"); uploading there makes it', async () => {
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.goto(t.url + '/files/moved%20away/deeper');
    const alert = page.getByRole('alert');
    await expect
      .poll(() => alert.textContent())
      .toBe('This folder does not exist: /moved away/deeper. It was moved, renamed or deleted, or the address is mistyped; uploading files here makes it.');
    await page.getByRole('link', { name: 'Open My files, the nearest folder that exists', exact: true }).waitFor();
    writeFileSync(join(dir, 'arrives.txt'), 'it arrives');
    await page.getByTestId('upload-files').setInputFiles(join(dir, 'arrives.txt'));
    await page.getByRole('button', { name: 'Open arrives.txt' }).waitFor();
    expect(await alert.count()).toBe(0);
    expect(await (await api('/api/v1/files/moved%20away/deeper/arrives.txt')).text()).toBe('it arrives');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('what Copy and Move say they did', () => {
  it('a copy into another folder (nothing changes in sight) and one into its own folder (a name not chosen) say where they went, as a move does', async () => {
    await put('/cp/b.txt', 'b');
    await put('/cp/c.txt', 'c');
    await mkdir('/cp/sub');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.goto(t.url + '/files/cp');
    const notice = page.locator('p.notice');
    const act = async (names: string[], button: 'Copy' | 'Move', to: string) => {
      // A fresh page: nothing selected, no notice of before.
      await page.reload();
      for (const name of names) await page.getByLabel(`Select ${name}`, { exact: true }).check();
      await page.getByRole('button', { name: button, exact: true }).click();
      await page.getByRole('dialog').getByLabel('To folder').fill(to);
      await page.getByRole('dialog').getByRole('button', { name: button, exact: true }).click();
      await page.getByRole('dialog').waitFor({ state: 'detached' });
    };
    await act(['b.txt'], 'Copy', '/cp/sub');
    await expect.poll(() => notice.textContent()).toBe('Copied b.txt to /cp/sub.');
    expect(await (await api('/api/v1/files/cp/sub/b.txt')).text()).toBe('b');
    await act(['b.txt'], 'Copy', '/cp');
    await expect.poll(() => notice.textContent()).toBe('Copied b.txt here as b (copy).txt.');
    await page.getByRole('button', { name: 'Open b (copy).txt' }).waitFor();
    await act(['b.txt', 'c.txt'], 'Copy', '/cp');
    await expect.poll(() => notice.textContent()).toBe('Copied 2 items here, each named "(copy)".');
    await page.getByRole('button', { name: 'Open b (copy 2).txt' }).waitFor();
    await page.getByRole('button', { name: 'Open c (copy).txt' }).waitFor();
    await act(['c.txt'], 'Move', '/cp/sub');
    await expect.poll(() => notice.textContent()).toBe('Moved c.txt to /cp/sub.');
    expect(await (await api('/api/v1/files/cp/sub/c.txt')).text()).toBe('c');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a name that is taken', () => {
  it('Rename, Move, Copy and New folder say which name is taken, where, and what to do (not "/path: already exists"); nothing is replaced', async () => {
    await put('/taken/a.txt', 'a');
    await put('/taken/b.txt', 'b');
    await put('/taken/sub/a.txt', 'the other a');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.goto(t.url + '/files/taken');
    const dialog = page.getByRole('dialog');
    const refusal = async (button: string, field: string, value: string, select?: string) => {
      const box = select && page.getByLabel(`Select ${select}`, { exact: true });
      if (box) await box.check();
      await page.getByRole('button', { name: button, exact: true }).click();
      await dialog.getByLabel(field).fill(value);
      await dialog.getByRole('button', { name: button === 'New folder' ? 'Create' : button, exact: true }).click();
      await dialog.getByRole('alert').waitFor();
      const text = await dialog.getByRole('alert').textContent();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      if (box) await box.uncheck();
      return text;
    };
    expect(await refusal('Rename', 'New name', 'b.txt', 'a.txt')).toBe('b.txt already exists here: choose another name, or rename or delete that one first.');
    for (const name of ['..', '.']) expect(await refusal('Rename', 'New name', name, 'a.txt')).toBe('A name cannot be . or .. (they mean this folder and the folder above it): choose another name.');
    expect(await refusal('Move', 'To folder', '/taken/sub', 'a.txt')).toBe('a.txt already exists in /taken/sub: rename one of the two first, or choose another folder.');
    expect(await refusal('Copy', 'To folder', '/taken/sub', 'a.txt')).toBe('a.txt already exists in /taken/sub: rename one of the two first, or choose another folder.');
    expect(await refusal('New folder', 'Folder name', 'sub')).toBe('sub already exists here: choose another name.');
    for (const [path, body] of [['/taken/a.txt', 'a'], ['/taken/b.txt', 'b'], ['/taken/sub/a.txt', 'the other a']]) expect(await (await api(`/api/v1/files${path}`)).text(), path).toBe(body);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the Tokens page', () => {
  it('says there are no tokens when there are none, and lists one once made', async () => {
    await addUser(t, 'tom', { password: 'tom-password-1' });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'tom', 'tom-password-1');
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByText('You have no API tokens: New token makes one.').waitFor();
    await tokenFor(t, 'tom', { name: 'backup script' });
    await page.reload();
    await page.getByRole('cell', { name: 'backup script', exact: true }).waitFor();
    expect(await page.getByText('You have no API tokens').count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a slow network', () => {
  it('a list still on its way says "Loading…", not bare headers (read as an empty list), and then what it holds', async () => {
    await addUser(t, 'sly', { password: 'sly-password-1' });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'sly', 'sly-password-1');
    const pages: Array<[string, RegExp, string]> = [
      ['Share links', /\/api\/v1\/shares(\?|$)/, 'No share links yet.'],
      ['Trash', /\/api\/v1\/trash(\?|$)/, 'The trash is empty.'],
      ['Tokens', /\/api\/v1\/tokens(\?|$)/, 'You have no API tokens: New token makes one.'],
    ];
    for (const [link, request, then] of pages) {
      let release = () => {};
      const released = new Promise<void>((r) => (release = r));
      let held = 0;
      await page.route(request, async (route) => {
        held++;
        await released;
        await route.continue();
      });
      await page.getByRole('link', { name: link, exact: true }).click();
      await expect.poll(() => held, { message: link }).toBeGreaterThan(0);
      await page.getByRole('cell', { name: 'Loading…', exact: true }).waitFor();
      expect(await page.getByText(then).count(), link).toBe(0);
      release();
      await page.getByRole('cell', { name: then, exact: true }).waitFor();
      expect(await page.getByRole('cell', { name: 'Loading…' }).count(), link).toBe(0);
      await page.unroute(request);
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the admin audit log says "Loading…" while it loads, and again for a new filter, not the last rows', async () => {
    await addUser(t, 'audra', { password: 'audra-password-1', role: 'admin' });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'audra', 'audra-password-1');
    let release = () => {};
    let released = new Promise<void>((r) => (release = r));
    let held = 0;
    await page.route(/\/api\/v1\/admin\/audit(\?|$)/, async (route) => {
      held++;
      await released;
      await route.continue();
    });
    await page.goto(t.url + '/admin/audit');
    await expect.poll(() => held).toBeGreaterThan(0);
    const loading = page.locator('table.audit').getByRole('cell', { name: 'Loading…', exact: true });
    await loading.waitFor();
    release();
    await page.locator('table.audit').getByRole('cell', { name: 'user.create', exact: true }).first().waitFor();
    expect(await loading.count()).toBe(0);
    // A new filter: its answer is on its way, the rows of the last one are not shown as its.
    released = new Promise<void>((r) => (release = r));
    await page.getByLabel('User').fill('nobody-such');
    await page.getByRole('button', { name: 'Show' }).click();
    await expect.poll(() => held).toBe(2);
    await loading.waitFor();
    expect(await page.locator('table.audit').getByRole('cell', { name: 'user.create', exact: true }).count()).toBe(0);
    release();
    await page.locator('table.audit').getByRole('cell', { name: 'No events.', exact: true }).waitFor();
    expect(await loading.count()).toBe(0);
    // On a phone the log keeps who did it (a rule for the listings' date column hid its User).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole('columnheader', { name: 'User', exact: true }).waitFor();
    expect(await page.getByRole('columnheader', { name: 'Address', exact: true }).isVisible()).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the quota line', () => {
  it('counts one file as "1 file", not "1 files"', async () => {
    await addUser(t, 'uno', { password: 'uno-password-1' });
    const uno = (await tokenFor(t, 'uno')).token;
    const upload = async (name: string) => expect((await api(`/api/v1/files/${name}`, { method: 'PUT', body: 'x', headers: { 'content-type': 'application/octet-stream' } }, uno)).status).toBe(201);
    await upload('one.txt');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'uno', 'uno-password-1');
    const line = page.locator('p.quota');
    await expect.poll(() => line.innerText()).toMatch(/ · 1 file$/);
    await upload('two.txt');
    await page.reload();
    await expect.poll(() => line.innerText()).toMatch(/ · 2 files$/);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the Admin page and the signed-in admin', () => {
  it("offers no Disable on the admin's own row, and the server refuses it (and demoting or deleting oneself) with a reason", async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'boss', 'boss-password-1');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('button', { name: 'Disable mia' }).waitFor();
    await page.getByRole('cell', { name: 'boss (you)' }).waitFor();
    expect(await page.getByRole('button', { name: 'Disable boss' }).count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();

    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'boss', password: 'boss-password-1' }) });
    const boss = ((await login.json()) as { token: string }).token;
    for (const [init, message] of [
      [{ method: 'PATCH', body: JSON.stringify({ disabled: true }) }, 'you cannot disable yourself'],
      [{ method: 'PATCH', body: JSON.stringify({ role: 'user' }) }, 'you cannot take the admin role from yourself'],
      [{ method: 'DELETE' }, 'you cannot delete yourself'],
    ] as const) {
      const r = await api('/api/v1/users/boss', init, boss);
      expect(r.status, init.method).toBe(400);
      expect(await r.json()).toEqual({ error: expect.objectContaining({ code: 'FERRY_ERR_VALIDATION', message }) });
    }
    const still = (await (await t.api('/api/v1/users/boss')).json()) as { disabled: boolean; role: string };
    expect([still.disabled, still.role]).toEqual([false, 'admin']);
  });
});

describe('adding a user on the Admin page', () => {
  it('a refusal is shown in the form, by its fields (not above the users table, out of sight); a short password is held back before it is sent', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'boss', 'boss-password-1');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByRole('button', { name: 'Disable mia' }).waitFor();
    let asked = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/users') asked++;
    });
    const form = page.locator('form').filter({ has: page.getByRole('button', { name: 'Add user' }) });
    const password = form.getByLabel('Password (8 characters or more; empty: none, tokens only)');
    await form.getByLabel('Name', { exact: true }).fill('newcomer');
    await password.fill('short');
    await form.getByRole('button', { name: 'Add user' }).click();
    expect(await password.evaluate((el) => (el as unknown as { validity: { tooShort: boolean } }).validity.tooShort)).toBe(true);
    expect(asked).toBe(0);
    // A name that is taken: the server's refusal, in the form, describing its fields.
    await form.getByLabel('Name', { exact: true }).fill('mia');
    await password.fill('long enough 1');
    await form.getByRole('button', { name: 'Add user' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor();
    const text = (await alert.textContent())!;
    expect(text).toMatch(/mia/);
    expect(await page.locator('section').getByRole('alert').count(), 'one refusal, the form\'s').toBe(1);
    const name = form.getByLabel('Name', { exact: true });
    expect(await name.getAttribute('aria-invalid')).toBe('true');
    expect(await page.locator(`#${await name.getAttribute('aria-describedby')}`).textContent()).toBe(text);
    // Corrected, the user is made and the form is quiet again.
    await name.fill('newcomer');
    await form.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('cell', { name: 'newcomer', exact: true }).waitFor();
    expect(await form.getByRole('alert').count()).toBe(0);
    expect(asked).toBe(2);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('sizes typed in the Admin page', () => {
  it('"10 GB" is 10^9 bytes and "10 GiB" 2^30, the field shows which before saving, a typo is refused, and the CLI reads them the same', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'boss', 'boss-password-1');
    await page.getByRole('link', { name: 'Admin' }).click();
    await page.getByLabel('Name', { exact: true }).fill('gina');
    await page.getByLabel('Quota (e.g. 10GiB or 10GB; empty: none)').fill('10 GB');
    await page.getByText('9.3 GiB (10,000,000,000 bytes)').waitFor();
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.getByRole('cell', { name: 'gina', exact: true }).waitFor();
    const quotaOf = async (name: string) => ((await (await t.api(`/api/v1/users/${name}`)).json()) as { quotaBytes: number | null }).quotaBytes;
    expect(await quotaOf('gina')).toBe(10_000_000_000);

    await page.getByRole('button', { name: 'Quota of gina' }).click();
    const field = page.getByLabel('Bytes (e.g. 500M, 10GiB or 10GB; empty: no limit)');
    await field.fill('10 gigs');
    await page.getByRole('dialog').getByText('not a size').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.getByRole('dialog').getByRole('alert').textContent()).toMatch(/^Not a size: "10 gigs" \(examples: /);
    expect(await quotaOf('gina')).toBe(10_000_000_000);
    await field.fill('10 GiB');
    await page.getByRole('dialog').getByText('10 GiB (10,737,418,240 bytes)').waitFor();
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => quotaOf('gina')).toBe(10 * 1024 ** 3);
    expect(errors).toEqual([]);
    await context.close();

    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: t.token, FERRY_CONFIG: join(dir, 'config.json') };
    for (const [name, quota, bytes] of [['cli-gb', '10GB', 10_000_000_000], ['cli-gib', '10GiB', 10 * 1024 ** 3], ['cli-g', '10G', 10 * 1024 ** 3]] as const) {
      const r = await runFerry(['user', 'add', name, '--quota', quota], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(await quotaOf(name), quota).toBe(bytes);
    }
  });
});
