/**
 * The web app as a keyboard and screen-reader user finds it, in real Chromium against a real
 * server: where focus goes when a dialog closes or the focused control goes away, errors tied
 * to the field they are about, announcements of uploads, and touch-sized controls on a phone.
 */
import { AxeBuilder } from '@axe-core/playwright';
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

/** The focused element, as tag, id and accessible-ish name. */
async function focused(page: Page): Promise<string> {
  return page.evaluate(`(() => { const e = document.activeElement; return e === null ? 'none' : e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + ' ' + (e.getAttribute('aria-label') || (e.tagName === 'MAIN' ? '' : e.textContent.trim())); })()`);
}

beforeAll(async () => {
  // Each test signs in, and a page load asks for its session (the auth routes' per-address
  // limit of 30 a minute): past it a page shows the sign-in form. That limit has its own tests.
  t = await startTestServer({ trashDays: 7, rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'kim', { password: 'kim-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'kim', password: 'kim-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  await put('/Notes/plan.txt', 'a plan');
  await put('/Notes/list.txt', 'a list');
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('focus, by keyboard', () => {
  it('Restore in the trash (the button disabled, then its row gone) leaves focus on the main region, not the body; Tab goes on from there', async () => {
    for (const name of ['old.txt', 'older.txt']) {
      await put(`/Notes/${name}`, name);
      expect((await fetch(`${t.url}/api/v1/files/Notes/${name}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBeLessThan(300);
    }
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/trash');
    const restore = page.getByRole('button', { name: 'Restore /Notes/old.txt', exact: true });
    await restore.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Restored /Notes/old.txt.' }).waitFor();
    await expect.poll(() => focused(page)).toBe('main#main ');
    // A place to read from, not a control: no focus ring around the whole page.
    expect(await page.locator('#main').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string } }).getComputedStyle(el).outlineStyle)).toBe('none');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button Empty trash');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the Files toolbar is one Tab stop: Right and Left go along it (wrapping), Home and End to its ends, passing over disabled buttons; Tab leaves it and Shift+Tab comes back to the button last used', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/files/Notes');
    const bar = page.getByRole('toolbar', { name: 'Files' });
    await bar.getByRole('button', { name: 'Download folder (zip)' }).waitFor();
    // One control of the bar in the Tab order, the first.
    const tabStops = () => bar.locator('[tabindex="0"]').allTextContents();
    expect(await tabStops()).toEqual(['New folder']);
    expect(await bar.locator('button:not([disabled])[tabindex="-1"]').count()).toBe(3);
    await bar.getByRole('button', { name: 'New folder' }).focus();
    const keys = async (...pressed: string[]) => {
      for (const k of pressed) await page.keyboard.press(k);
      return focused(page);
    };
    expect(await keys('ArrowRight')).toBe('button Upload files');
    expect(await keys('ArrowRight')).toBe('button Upload folder');
    // Nothing selected: Download, Rename, Move, Copy, Share, Versions and Delete are disabled, passed over.
    expect(await keys('ArrowRight')).toBe('button Download folder (zip)');
    expect(await keys('ArrowRight')).toBe('button New folder');
    expect(await keys('ArrowLeft')).toBe('button Download folder (zip)');
    expect(await keys('Home')).toBe('button New folder');
    expect(await keys('End')).toBe('button Download folder (zip)');
    // The roving Tab stop followed: Tab leaves the bar, Shift+Tab comes back to that button.
    expect(await tabStops()).toEqual(['Download folder (zip)']);
    expect(await keys('Tab')).not.toMatch(/^button (New folder|Upload files|Upload folder|Download)/);
    expect(await keys('Shift+Tab')).toBe('button Download folder (zip)');
    // A row selected enables the rest: End reaches Delete, Left goes back through them.
    await page.getByRole('checkbox', { name: 'Select plan.txt' }).check();
    await bar.getByRole('button', { name: 'Download folder (zip)' }).focus();
    expect(await keys('End')).toBe('button Delete');
    expect(await keys('ArrowLeft')).toBe('button Versions');
    expect(await keys('ArrowRight', 'ArrowRight')).toBe('button New folder');
    // Nothing selected again: the Tab stop (Delete, now disabled) goes back to the first button.
    await bar.getByRole('button', { name: 'Delete' }).focus();
    await page.getByRole('checkbox', { name: 'Select plan.txt' }).uncheck();
    await expect.poll(tabStops).toEqual(['New folder']);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('"Token created" puts focus on the token (selected, ready to copy); Done gives it back to "New token"', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/tokens');
    const newToken = page.getByRole('button', { name: 'New token' });
    await newToken.focus();
    await page.keyboard.press('Enter');
    // The dialog puts focus on its first field once it is open: type only then.
    const name = page.getByRole('dialog', { name: 'New token' }).getByLabel('Name', { exact: true });
    await expect.poll(() => name.evaluate((el) => el === (el as unknown as { ownerDocument: { activeElement: unknown } }).ownerDocument.activeElement)).toBe(true);
    await page.keyboard.type('focus test');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog', { name: 'Token created' }).waitFor();
    await expect.poll(() => focused(page)).toMatch(/^input#once-\d+ $/);
    const field = page.getByRole('textbox', { name: 'Token' });
    expect(await field.evaluate((e) => (e as unknown as { selectionStart: number; selectionEnd: number; value: string }).selectionEnd - (e as unknown as { selectionStart: number }).selectionStart)).toBe((await field.inputValue()).length);
    await page.getByRole('button', { name: 'Done' }).press('Enter');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expect.poll(() => focused(page)).toBe('button New token');
    expect(errors).toEqual([]);
    await context.close();
  });
});

/** A field's invalid state and the text of what describes it (aria-describedby), as a screen reader gets them. */
async function described(page: Page, label: string): Promise<{ invalid: string | null; description: string }> {
  return page.getByLabel(label, { exact: true }).evaluate((el) => {
    const doc = (el as unknown as { ownerDocument: { getElementById(id: string): { textContent: string | null } | null } }).ownerDocument;
    const ids = (el.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean);
    return { invalid: el.getAttribute('aria-invalid'), description: ids.map((id: string) => doc.getElementById(id)?.textContent ?? '').join(' ') };
  });
}

describe('errors, by screen reader', () => {
  it('a refused sign-in, folder name or password change marks its fields invalid and describes them by the message', async () => {
    const { context, page, errors } = await freshContext(browser);
    await page.goto(t.url + '/');
    await page.getByLabel('User name').fill('kim');
    await page.getByLabel('Password').fill('not-the-password');
    expect(await described(page, 'Password')).toEqual({ invalid: null, description: '' });
    await page.getByRole('button', { name: 'Sign in' }).click();
    const refusal = (await page.getByRole('alert').textContent())!;
    expect(refusal).not.toBe('');
    for (const field of ['User name', 'Password']) expect(await described(page, field), field).toEqual({ invalid: 'true', description: refusal });

    await page.getByLabel('Password').fill('kim-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Folder name').fill('   ');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').filter({ hasText: 'Folder name cannot be only spaces.' }).waitFor();
    expect(await described(page, 'Folder name')).toEqual({ invalid: 'true', description: 'Folder name cannot be only spaces.' });
    // Corrected, the folder is made and the dialog closes.
    await page.getByLabel('Folder name').fill('Reports');
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').waitFor({ state: 'detached' });

    await page.goto(t.url + '/account');
    await page.getByLabel('Current password').fill('kim-password-1');
    await page.getByLabel('New password', { exact: true }).fill('a new password 1');
    await page.getByLabel('New password again').fill('a new password 2');
    await page.getByRole('button', { name: 'Change password' }).click();
    const differ = (await page.getByRole('alert').textContent())!;
    expect(differ).toMatch(/differ/);
    expect(await described(page, 'New password again')).toEqual({ invalid: 'true', description: differ });
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the New token dialog marks the field a refusal is about (name, scopes, days) and describes it by the message, not the others', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/tokens');
    await page.getByRole('button', { name: 'New token' }).click();
    const dialog = page.getByRole('dialog', { name: 'New token' });
    const create = dialog.getByRole('button', { name: 'Create token' });
    const untouched = { invalid: null, description: '' };
    await dialog.getByLabel('Name', { exact: true }).fill('   ');
    await create.click();
    await dialog.getByRole('alert').filter({ hasText: 'Name cannot be only spaces.' }).waitFor();
    expect(await described(page, 'Name')).toEqual({ invalid: 'true', description: 'Name cannot be only spaces.' });
    expect(await described(page, 'Expires after (days; empty: never)')).toEqual(untouched);

    await dialog.getByLabel('Name', { exact: true }).fill('backup job');
    for (const scope of ['list', 'read', 'write', 'delete', 'mkdir', 'share']) await dialog.getByLabel(scope, { exact: true }).uncheck();
    await create.click();
    const noScope = (await dialog.getByRole('alert').filter({ hasText: /scope/ }).textContent())!;
    for (const scope of ['list', 'share']) expect(await described(page, scope), scope).toEqual({ invalid: 'true', description: noScope });
    expect(await described(page, 'Name')).toEqual(untouched);

    // 5000 days: the form's own words, about its field (the server's was about expiresInSeconds).
    await dialog.getByLabel('read', { exact: true }).check();
    await dialog.getByLabel('Expires after (days; empty: never)').fill('5000');
    await create.click();
    const tooLong = (await dialog.getByRole('alert').filter({ hasText: /days/ }).textContent())!;
    expect(tooLong).not.toMatch(/expiresInSeconds/);
    expect(await described(page, 'Expires after (days; empty: never)')).toEqual({ invalid: 'true', description: tooLong });
    expect(await described(page, 'read')).toEqual(untouched);

    // Corrected, the token is made.
    await dialog.getByLabel('Expires after (days; empty: never)').fill('30');
    await create.click();
    await page.getByRole('dialog', { name: 'Token created' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('revoking, by keyboard', () => {
  /** Revokes by keyboard what `button` names, in the dialog, and waits for the dialog to go. */
  async function revoke(page: Page, button: string): Promise<void> {
    await page.getByRole('button', { name: button, exact: true }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Revoke' }).press('Enter');
    await dialog.waitFor({ state: 'detached' });
  }

  it("a revoked token's focus goes to the next token's Revoke, the one before when it was the last, and the list's note when none is left", async () => {
    await addUser(t, 'ines', { password: 'ines-password-1' });
    for (const name of ['alpha', 'beta', 'gamma']) await tokenFor(t, 'ines', { name });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'ines', 'ines-password-1');
    await page.goto(t.url + '/tokens');
    const revokes = page.getByRole('button', { name: /^Revoke token / });
    await expect.poll(() => revokes.count()).toBe(3);
    // The rows in the page's order, whatever it is.
    const order = (await revokes.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))) as string[];
    await revoke(page, order[1]!);
    await expect.poll(() => focused(page)).toBe(`button ${order[2]}`);
    // The last row: the one before it.
    await revoke(page, order[2]!);
    await expect.poll(() => focused(page)).toBe(`button ${order[0]}`);
    await revoke(page, order[0]!);
    await expect.poll(() => focused(page)).toBe('td You have no API tokens: New token makes one.');
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a revoked link's focus goes to the next Revoke (revoked links stay listed, without one), the one before when it was the last, then the page's heading", async () => {
    await addUser(t, 'olu', { password: 'olu-password-1' });
    const own = await tokenFor(t, 'olu');
    for (const f of ['a.txt', 'b.txt', 'c.txt']) {
      const r = await fetch(t.url + '/api/v1/files/' + f, { method: 'PUT', body: f, headers: { authorization: `Bearer ${own.token}` } });
      expect(r.status).toBe(201);
      await share(t, own.token, { path: '/' + f });
    }
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'olu', 'olu-password-1');
    await page.goto(t.url + '/shares');
    const revokes = page.getByRole('button', { name: /^Revoke link / });
    await expect.poll(() => revokes.count()).toBe(3);
    const order = (await revokes.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')))) as string[];
    await revoke(page, order[0]!);
    await expect.poll(() => focused(page)).toBe(`button ${order[1]}`);
    await revoke(page, order[2]!);
    await expect.poll(() => focused(page)).toBe(`button ${order[1]}`);
    await revoke(page, order[1]!);
    await expect.poll(() => focused(page)).toBe('h1 Share links');
    expect(await revokes.count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('Cancel gives the focus back to the Revoke that opened the dialog', async () => {
    await addUser(t, 'pia', { password: 'pia-password-1' });
    await tokenFor(t, 'pia', { name: 'kept' });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'pia', 'pia-password-1');
    await page.goto(t.url + '/tokens');
    const button = page.getByRole('button', { name: /^Revoke token kept/ });
    await button.focus();
    await page.keyboard.press('Enter');
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).press('Enter');
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expect.poll(() => focused(page)).toBe(`button ${await button.getAttribute('aria-label')}`);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('names, by screen reader', () => {
  it('two tokens of one name have Revoke buttons of different names (when made, the start of the ID), and each revokes its own token', async () => {
    await addUser(t, 'lev', { password: 'lev-password-1' });
    const first = await tokenFor(t, 'lev', { name: 'backup' });
    const second = await tokenFor(t, 'lev', { name: 'backup' });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'lev', 'lev-password-1');
    await page.goto(t.url + '/tokens');
    const revokes = page.getByRole('button', { name: /^Revoke token backup/ });
    await expect.poll(() => revokes.count()).toBe(2);
    const names = await revokes.evaluateAll((els) => els.map((e) => e.getAttribute('aria-label')));
    expect(new Set(names).size).toBe(2);
    for (const name of names) expect(name).toMatch(/^Revoke token backup \(created \d{4}-\d\d-\d\d \d\d:\d\d, ID [0-9a-f]{8}\)$/);
    const ofSecond = names.find((n) => n!.endsWith(`ID ${second.id.slice(0, 8)})`));
    expect(ofSecond).toBeDefined();
    await page.getByRole('button', { name: ofSecond!, exact: true }).click();
    // The confirmation names the same token.
    expect(await page.getByRole('dialog').innerText()).toContain(ofSecond!.slice('Revoke token '.length));
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => revokes.count()).toBe(1);
    const status = async (token: string) => (await fetch(t.url + '/api/v1/list', { headers: { authorization: `Bearer ${token}` } })).status;
    expect(await status(second.token)).toBe(401);
    expect(await status(first.token)).toBe(200);
    expect(await revokes.getAttribute('aria-label')).toContain(`ID ${first.id.slice(0, 8)})`);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('page titles, by screen reader', () => {
  it('each page of the app has its own title (WCAG 2.4.2), not "Ferry" for all', async () => {
    const { context, page, errors } = await freshContext(browser);
    await page.goto(t.url + '/');
    await expect.poll(() => page.title()).toBe('Sign in · Ferry');
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await expect.poll(() => page.title()).toBe('Files · Ferry');
    for (const name of ['Share links', 'Trash', 'Tokens', 'Account', 'Files']) {
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
      await expect.poll(() => page.title()).toBe(`${name} · Ferry`);
    }
    await page.goto(t.url + '/nowhere');
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    // The title follows the page's first paint (an effect): polled as the others are.
    await expect.poll(() => page.title()).toBe('Not found · Ferry');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('selection, by screen reader', () => {
  it('selecting rows is said in the page\'s live region ("2 selected"), and unselecting all ("Nothing selected")', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/files/Notes');
    const region = page.locator('[role=status], [aria-live]');
    await page.getByRole('checkbox', { name: 'Select list.txt' }).check();
    await expect.poll(() => region.allTextContents()).toEqual([' 1 selected']);
    await page.getByRole('checkbox', { name: 'Select plan.txt' }).check();
    await expect.poll(() => region.allTextContents()).toEqual([' 2 selected']);
    await page.getByRole('checkbox', { name: 'Select all' }).check();
    const all = await page.getByRole('checkbox', { name: /^Select (?!all)/ }).count();
    expect(all).toBeGreaterThanOrEqual(2);
    await expect.poll(() => region.allTextContents()).toEqual([` ${all} selected`]);
    await page.getByRole('checkbox', { name: 'Select all' }).uncheck();
    await expect.poll(() => region.allTextContents()).toEqual([' Nothing selected']);
    // Another folder: nothing said until something is selected there.
    await page.getByRole('link', { name: 'My files' }).click();
    await expect.poll(() => region.allTextContents()).toEqual(['']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

/** Controls smaller than 24 × 24 CSS px (WCAG 2.5.8), leaving out links inside a sentence (exempt) and the skip link. */
const SMALL_TARGETS = `[...document.querySelectorAll('a[href], button, input, select, summary, textarea')].filter((el) => {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) return false;
  if (el.classList.contains('skip') || el.closest('p, dd, li.upload .row')) return false;
  return r.width < 24 || r.height < 24;
}).map((el) => el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') || el.textContent.trim() || el.type) + ' ' + Math.round(el.getBoundingClientRect().width) + 'x' + Math.round(el.getBoundingClientRect().height))`;

/** The contrast ratio (WCAG) of the focused element's outline against the background behind it (the first opaque one up the tree). */
const FOCUS_RING_CONTRAST = `(() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const el = document.activeElement;
  let back = el.parentElement;
  while (back && (rgb(getComputedStyle(back).backgroundColor)[3] ?? 1) === 0) back = back.parentElement;
  const a = lum(rgb(getComputedStyle(el).outlineColor));
  const b = lum(rgb(back ? getComputedStyle(back).backgroundColor : 'rgb(255, 255, 255)'));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})()`;

describe('the focus ring', () => {
  it('stands out at least 3:1 from what is behind it (WCAG 1.4.11), on the header and on a selected row', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/files/Notes');
    await page.getByRole('checkbox', { name: 'Select list.txt' }).check();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Trash' }).focus();
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('a Tokens');
    expect(await page.evaluate(FOCUS_RING_CONTRAST), 'a header link').toBeGreaterThanOrEqual(3);
    await page.getByRole('checkbox', { name: 'Select list.txt' }).focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('Space');
    expect(await page.getByRole('checkbox', { name: 'Select list.txt' }).isChecked()).toBe(true);
    expect(await page.evaluate(FOCUS_RING_CONTRAST), 'a selected row').toBeGreaterThanOrEqual(3);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the drop box, by keyboard', () => {
  it('Tab to "Choose files" shows a focus ring around it (the file field inside it is hidden)', async () => {
    const drop = await share(t, token, { path: '/Notes', kind: 'upload' });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(drop.url);
    await page.getByRole('heading', { name: 'Send files: Notes' }).waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.type')).toBe('file');
    const ring = await page.locator('label.button').filter({ hasText: 'Choose files' }).evaluate((el) => {
      const cs = (globalThis as unknown as { getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string } }).getComputedStyle(el);
      return `${cs.outlineStyle} ${cs.outlineWidth}`;
    });
    expect(ring).toBe('solid 3px');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('states, by screen reader', () => {
  it('"Select all" is mixed while some rows but not all are selected (not "not checked")', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/files/Notes');
    const all = page.getByRole('checkbox', { name: 'Select all' });
    const state = () => all.evaluate((el) => ((el as unknown as { indeterminate: boolean }).indeterminate ? 'mixed' : String((el as unknown as { checked: boolean }).checked)));
    await page.getByRole('checkbox', { name: 'Select list.txt' }).check();
    expect(await state()).toBe('mixed');
    await all.check();
    expect(await state()).toBe('true');
    await all.uncheck();
    expect(await state()).toBe('false');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('uploads, by screen reader', () => {
  it('a live region, there before any upload, says "Uploading…" and then how the uploads ended, not every byte and rate', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    await page.goto(t.url + '/files/Notes');
    await page.getByRole('checkbox', { name: 'Select list.txt' }).waitFor();
    const region = page.locator('[role=status], [aria-live]');
    // Present and silent before the first upload: a region added with its text is often not read.
    expect(await region.allTextContents()).toEqual(['']);
    const spoken: string[] = [];
    await page.exposeFunction('heard', (text: string) => spoken.push(text));
    await page.evaluate(`new MutationObserver(() => heard(document.querySelector('[role=status]').textContent)).observe(document.querySelector('[role=status]'), { subtree: true, childList: true, characterData: true })`);
    // list.txt is there already: refused, the other goes up.
    await page.getByLabel('Files to upload').setInputFiles([
      { name: 'list.txt', mimeType: 'text/plain', buffer: Buffer.from('another list') },
      { name: 'fresh.txt', mimeType: 'text/plain', buffer: Buffer.from('fresh') },
    ]);
    await expect.poll(() => region.allTextContents()).toEqual([expect.stringMatching(/^Uploads: (1 failed, 1 done|1 done, 1 failed)\.$/)]);
    expect(spoken[0]).toBe('Uploading…');
    expect(spoken.every((text) => !/\d+ ?[KMG]?B/.test(text)), spoken.join(' | ')).toBe(true);
    // The refusal itself is an alert of its own.
    expect(await page.getByRole('alert').count()).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('a phone: 390 × 844, touch', () => {
  it('every control on every page is at least 24 px each way; no page scrolls sideways; a dialog fits the screen', async () => {
    await put('/Notes/a-file-with-a-rather-long-name-to-share-from-a-phone.txt', 'x');
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(t.url + '/');
    expect(await page.evaluate(SMALL_TARGETS), 'sign-in').toEqual([]);
    await signIn(page, t.url, 'kim', 'kim-password-1');
    for (const [path, ready] of [
      ['/files/Notes', 'Select list.txt'],
      ['/trash', 'Trash'],
      ['/tokens', 'API tokens'],
      ['/account', 'Account'],
    ]) {
      await page.goto(t.url + path);
      await (ready.startsWith('Select') ? page.getByRole('checkbox', { name: ready }) : page.getByRole('heading', { name: ready, exact: true })).waitFor();
      expect(await page.evaluate(SMALL_TARGETS), path).toEqual([]);
      expect(await page.evaluate('document.documentElement.scrollWidth'), `${path}: the page's width`).toBeLessThanOrEqual(390);
    }
    // A share folder's page, as its visitor sees it on a phone.
    await page.goto((await share(t, token, { path: '/Notes' })).url);
    await page.getByRole('link', { name: 'Download list.txt' }).waitFor();
    expect(await page.evaluate(SMALL_TARGETS), 'a share folder page').toEqual([]);
    await page.goto(t.url + '/files/Notes');
    await page.getByRole('checkbox', { name: 'Select a-file-with-a-rather-long-name-to-share-from-a-phone.txt' }).tap();
    await page.getByRole('button', { name: 'Share', exact: true }).tap();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const box = (await dialog.boundingBox())!;
    expect(box.x).toBeGreaterThanOrEqual(0);
    expect(box.x + box.width).toBeLessThanOrEqual(390);
    expect(await page.evaluate(SMALL_TARGETS), 'the share dialog').toEqual([]);
    const create = dialog.getByRole('button', { name: 'Create link' });
    await create.scrollIntoViewIfNeeded();
    const b = (await create.boundingBox())!;
    expect(b.y + b.height, 'Create link inside the screen').toBeLessThanOrEqual(844);
    expect(b.x + b.width).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("the server's own pages, by screen reader", () => {
  it('the 404 page, the WebDAV folder page and a share folder\'s plain listing say their language (English) and pass axe-core\'s WCAG A/AA rules', async () => {
    const folder = await share(t, token, { path: '/Notes' });
    const pages: Array<[string, Promise<Response>]> = [
      ['404 page', fetch(t.url + '/no-such-page', { method: 'POST', headers: { accept: 'text/html' } })],
      ['WebDAV folder page', fetch(t.url + '/dav/Notes/', { headers: { authorization: `Bearer ${token}`, accept: 'text/html' } })],
      ["share folder's plain listing", fetch(folder.url, { headers: { accept: '*/*' } })],
    ];
    const { context, page, errors } = await freshContext(browser);
    for (const [what, answer] of pages) {
      const r = await answer;
      expect(r.headers.get('content-type'), what).toMatch(/^text\/html/);
      await page.setContent(await r.text());
      expect(await page.evaluate('document.documentElement.lang'), what).toBe('en');
      expect(await page.getByRole('heading', { level: 1 }).count(), what).toBe(1);
      // axe-core's WCAG A/AA rules (these small pages pass fewer rules than the app's: no bound on passes).
      const axe = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      expect(axe.violations.map((v) => `${v.id}: ${v.help}`), what).toEqual([]);
      expect(axe.passes.map((p) => p.id), what).toContain('document-title');
    }
    expect(errors).toEqual([]);
    await context.close();
  });
});
