/**
 * The web app as a keyboard and screen-reader user finds it, in real Chromium against a real
 * server: where focus goes when a dialog closes or the focused control goes away, errors tied
 * to the field they are about, announcements of uploads, and touch-sized controls on a phone.
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
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
  t = await startTestServer({ trashDays: 7 });
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
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('button Empty trash');
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
