/**
 * Move's and Copy's target, as a file manager's user expects it, in Chromium against a real
 * server: a folder picker in the dialog (up, open a folder, a new folder there), used with the
 * keyboard alone, the typed path still taken; the targets refused (a folder into itself, a name
 * taken, no permission) said in a sentence; and the server's own refusals shown as sentences.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { expectAccessible, freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let token: string;

async function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });
}

async function put(path: string, body: string): Promise<void> {
  expect((await api(`/api/v1/files${path}`, { method: 'PUT', body })).status, path).toBe(201);
}

async function mkdir(path: string): Promise<void> {
  expect((await api(`/api/v1/mkdir${path}`, { method: 'POST' })).status, path).toBe(201);
}

async function exists(path: string): Promise<boolean> {
  return (await api(`/api/v1/stat${path}`)).status === 200;
}

/** The accessible name of the focused element (its aria-label, else its label's text, else its own). */
function focused(page: Page): Promise<string> {
  return page.evaluate(`(() => { const e = document.activeElement; return e === null ? '' : e.getAttribute('aria-label') ?? e.labels?.[0]?.textContent ?? e.textContent.trim(); })()`);
}

beforeAll(async () => {
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  // Everything at /, only list and read in /ro (a folder shared with the team to read).
  await addUser(t, 'mia', {
    password: 'mia-password-1',
    grants: [
      { path: '/', permissions: ['list', 'read', 'write', 'delete', 'mkdir', 'share'] },
      { path: '/ro', permissions: ['list', 'read'] },
    ],
  });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mia', password: 'mia-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('the folder picker of Move and Copy', () => {
  it('with the keyboard alone: opens a folder, goes up, makes a new folder there (Enter makes it, not the move), and the move goes where the picker went', async () => {
    await put('/pk/a.txt', 'a');
    await mkdir('/pk/Photos');
    await mkdir('/pk/Photos/2026');
    await mkdir('/Archive');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'pk', exact: true }).click();
    await page.getByRole('checkbox', { name: 'Select a.txt' }).focus();
    await page.keyboard.press('Space');
    await page.getByRole('button', { name: 'Move', exact: true }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog', { name: 'Move a.txt' });
    const field = dialog.getByLabel('To folder');
    const picker = dialog.getByRole('group', { name: 'Choose a folder' });
    await picker.getByRole('status').filter({ hasText: 'In /pk: 1 folder' }).waitFor();
    await expectAccessible(page, 'the Move dialog with its folder picker');
    // Tab from the field reaches the picker's controls: Up, New folder, then the folders.
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('Up to your home folder');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('New folder in /pk');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('Open Photos');
    await page.keyboard.press('Enter');
    await picker.getByRole('status').filter({ hasText: 'In /pk/Photos: 1 folder' }).waitFor();
    expect(await field.inputValue()).toBe('/pk/Photos');
    // The focus stays in the picker, on the first folder of the one opened.
    await expect.poll(() => focused(page)).toBe('Open 2026');
    // Up twice: the home folder, where Up is disabled.
    await picker.getByRole('button', { name: 'Up to pk' }).focus();
    await page.keyboard.press('Enter');
    await picker.getByRole('status').filter({ hasText: 'In /pk:' }).waitFor();
    await picker.getByRole('button', { name: 'Up to your home folder' }).focus();
    await page.keyboard.press('Enter');
    await picker.getByRole('status').filter({ hasText: 'In your home folder (/): 2 folders' }).waitFor();
    expect(await field.inputValue()).toBe('/');
    expect(await picker.getByRole('button', { name: 'Up', exact: true }).isDisabled()).toBe(true);
    await expect.poll(() => focused(page)).toBe('Open Archive');
    await page.keyboard.press('Enter');
    await picker.getByRole('status').filter({ hasText: 'In /Archive: no folders' }).waitFor();
    // A new folder there: the plus opens a name field; Enter makes the folder and opens it, the dialog stays.
    await picker.getByRole('button', { name: 'New folder in /Archive' }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => focused(page)).toBe('New folder name');
    await page.keyboard.type('Old');
    await page.keyboard.press('Enter');
    await picker.getByRole('status').filter({ hasText: 'In /Archive/Old: no folders' }).waitFor();
    expect(await field.inputValue()).toBe('/Archive/Old');
    expect([await exists('/Archive/Old'), await exists('/pk/a.txt')]).toEqual([true, true]);
    // A name already there is refused in a sentence, and nothing else happens.
    await picker.getByRole('button', { name: 'Up to Archive' }).click();
    await picker.getByRole('status').filter({ hasText: 'In /Archive: 1 folder' }).waitFor();
    await picker.getByRole('button', { name: 'New folder in /Archive' }).click();
    await picker.getByLabel('New folder name').fill('Old');
    await picker.getByRole('button', { name: 'Create and open' }).click();
    await expect.poll(() => picker.getByRole('alert').textContent()).toBe('Old already exists in /Archive: open it, or choose another name.');
    await picker.getByRole('button', { name: 'Open Old' }).click();
    await picker.getByRole('status').filter({ hasText: 'In /Archive/Old:' }).waitFor();
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.getByText('Moved a.txt to /Archive/Old.').first().waitFor();
    expect([await exists('/pk/a.txt'), await exists('/Archive/Old/a.txt')]).toEqual([false, true]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a typed path is still taken; refused targets say why in a sentence: a folder into itself, a name taken, a folder it may not write in, its own folder', async () => {
    await put('/rf/b.txt', 'b');
    await put('/rf/Box/b.txt', 'other b');
    await mkdir('/rf/Tree');
    await mkdir('/rf/Tree/Leaf');
    // mia may only read in /ro: the admin makes it.
    expect((await t.api('/api/v1/mkdir/users/mia/ro', { method: 'POST' })).status).toBe(201);
    await mkdir('/Done');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'rf', exact: true }).click();
    const alert = () => page.getByRole('dialog').getByRole('alert').first().textContent();
    const moveTo = async (name: string, to: string) => {
      await page.getByRole('checkbox', { name: `Select ${name}`, exact: true }).check();
      await page.getByRole('button', { name: 'Move', exact: true }).click();
      const dialog = page.getByRole('dialog', { name: `Move ${name}` });
      await dialog.getByLabel('To folder').fill(to);
      await dialog.getByRole('button', { name: 'Move', exact: true }).click();
      return dialog;
    };
    let dialog = await moveTo('Tree', '/rf/Tree/Leaf');
    await expect.poll(alert).toBe('Tree cannot go into itself (/rf/Tree/Leaf is inside it): choose a folder outside it.');
    await dialog.getByLabel('To folder').fill('/rf/Box');
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    expect(await exists('/rf/Box/Tree/Leaf')).toBe(true);
    dialog = await moveTo('b.txt', '/rf/Box');
    await expect.poll(alert).toBe('b.txt already exists in /rf/Box: rename one of the two first, or choose another folder.');
    await dialog.getByLabel('To folder').fill('/ro');
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await expect.poll(alert).toBe('You cannot change or add to /ro/b.txt: you do not have permission there.');
    await dialog.getByLabel('To folder').fill('/rf');
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await expect.poll(alert).toBe('b.txt is in /rf already: choose another folder.');
    // Typed, without the leading "/": the folder at the top.
    await dialog.getByLabel('To folder').fill('Done');
    await dialog.getByRole('button', { name: 'Move', exact: true }).click();
    await dialog.waitFor({ state: 'detached' });
    expect([await exists('/rf/b.txt'), await exists('/Done/b.txt'), await exists('/ro/b.txt')]).toEqual([false, true, false]);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('dragging rows onto a folder', () => {
  it('moves them (the selection with it) onto a folder row or a crumb, saying so as Move does; onto nothing else nothing happens, and files from the desktop still upload', async () => {
    await put('/dd/one.txt', '1');
    await put('/dd/two.txt', '2');
    await put('/dd/three.txt', '3');
    await mkdir('/dd/Inbox');
    await mkdir('/dd/Inbox/Sub');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'mia', 'mia-password-1');
    await page.getByRole('link', { name: 'dd', exact: true }).click();
    const row = (name: string) => page.getByRole('row').filter({ has: page.getByRole('checkbox', { name: `Select ${name}`, exact: true }) });
    // Two selected, dragged by one of them: both go.
    await page.getByRole('checkbox', { name: 'Select one.txt' }).check();
    await page.getByRole('checkbox', { name: 'Select two.txt' }).check();
    await row('two.txt').dragTo(row('Inbox'));
    await page.getByText('Moved 2 items to /dd/Inbox.').first().waitFor();
    expect([await exists('/dd/Inbox/one.txt'), await exists('/dd/Inbox/two.txt'), await exists('/dd/three.txt')]).toEqual([true, true, true]);
    // Onto a file's row: nothing moves.
    await row('three.txt').dragTo(row('three.txt'));
    expect(await exists('/dd/three.txt')).toBe(true);
    // An unselected row goes alone, onto a crumb (the home folder).
    await row('three.txt').dragTo(page.getByRole('navigation', { name: 'Folder path' }).getByRole('link', { name: 'My files' }));
    await page.getByText('Moved three.txt to /.').first().waitFor();
    expect([await exists('/dd/three.txt'), await exists('/three.txt')]).toEqual([false, true]);
    // Into a folder where the name is taken: refused in a sentence, on the page.
    await mkdir('/dd/Sub');
    await page.reload();
    await row('Sub').dragTo(row('Inbox'));
    await expect.poll(() => page.getByRole('alert').first().textContent()).toBe('Sub already exists in /dd/Inbox: rename one of the two first, or choose another folder.');
    // A file from the desktop, dropped on a folder row, still uploads into the folder shown.
    await page.evaluate(`(() => {
      const data = new DataTransfer();
      data.items.add(new File(['dropped'], 'dropped.txt', { type: 'text/plain' }));
      const target = document.querySelector('tr[data-dir]');
      target.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
      target.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
    })()`);
    await expect.poll(() => exists('/dd/dropped.txt')).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });
});
