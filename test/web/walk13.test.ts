/**
 * What a new user's keyboard-only walk through the web app found (thirteenth round), on a
 * desktop (1280×800) and a phone (390×844), each seen in Chromium against a real server: links
 * to the same folder could not be told apart (on a phone, nor by their Revoke buttons' names),
 * a move from the middle of a folder sent the focus to the top of the page, and a password
 * link's page left the focus nowhere (Tab first, then type).
 */
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
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

/** The focused element: its tag and accessible name (aria-label, else its label's text, else its own). */
function focused(page: Page): Promise<string> {
  return page.evaluate(`(() => { const e = document.activeElement; return e === null ? '' : e.tagName.toLowerCase() + ' ' + (e.getAttribute('aria-label') ?? e.labels?.[0]?.textContent ?? e.textContent.trim()); })()`);
}

beforeAll(async () => {
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'nova', { password: 'nova-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'nova', password: 'nova-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('share links to the same folder', () => {
  it('are told apart: on a phone each says its kind and when it was made under its name, and each Revoke button names them', async () => {
    expect((await api('/api/v1/mkdir/Notes', { method: 'POST' })).status).toBe(201);
    await share(t, token, { path: '/Notes' });
    await share(t, token, { path: '/Notes', kind: 'upload' });
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'nova', 'nova-password-1');
    await page.getByRole('link', { name: 'Share links' }).click();
    const revokes = page.getByRole('button', { name: /^Revoke link Notes \(\/Notes\)/ });
    await expect.poll(() => revokes.count()).toBe(2);
    const names = await Promise.all([0, 1].map(async (i) => (await revokes.nth(i).getAttribute('aria-label'))!));
    expect(new Set(names).size, names.join(' | ')).toBe(2);
    for (const name of names) expect(name).toMatch(/^Revoke link Notes \(\/Notes\): (download link|drop box), created \d{4}-\d\d-\d\d \d\d:\d\d$/);
    // On the phone, where the Path and Kind columns are left out, the rows say it themselves.
    const rows = page.getByRole('row').filter({ hasText: 'Notes' });
    const said = await Promise.all([0, 1].map((i) => rows.nth(i).locator('.phone-only').innerText()));
    expect(said.map((s) => s.replace(/\d{4}-\d\d-\d\d \d\d:\d\d/, 'WHEN')).sort()).toEqual(['download link, created WHEN', 'drop box, created WHEN']);
    expect(await rows.first().locator('.phone-only').isVisible()).toBe(true);
    // On a desktop the Kind column says it, and the line is not shown twice.
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await rows.first().locator('.phone-only').isVisible()).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('moving a row away with the keyboard', () => {
  it('puts the focus on the row that takes its place (the one after, else the one before), not at the top of the page', async () => {
    for (const n of ['a', 'b', 'c']) await put(`/mv/${n}.txt`, n);
    expect((await api('/api/v1/mkdir/Kept', { method: 'POST' })).status).toBe(201);
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'nova', 'nova-password-1');
    await page.getByRole('link', { name: 'mv', exact: true }).click();
    const moveAway = async (name: string) => {
      await page.getByRole('checkbox', { name: `Select ${name}` }).focus();
      await page.keyboard.press('Space');
      await page.getByRole('button', { name: 'Move', exact: true }).focus();
      await page.keyboard.press('Enter');
      await page.getByLabel('To folder').fill('/Kept');
      await page.keyboard.press('Enter');
      await page.getByRole('dialog').waitFor({ state: 'detached' });
      await page.getByText(`Moved ${name} to /Kept.`).first().waitFor();
    };
    await moveAway('b.txt');
    await expect.poll(() => focused(page)).toBe('input Select c.txt');
    // The last row: the one before it.
    await moveAway('c.txt');
    await expect.poll(() => focused(page)).toBe('input Select a.txt');
    expect(await page.getByRole('checkbox', { name: 'Select a.txt' }).isChecked()).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("a share link's password page", () => {
  it('puts the focus in its password field, as the sign-in form does: the visitor types the password and presses Enter, no Tab first', async () => {
    await put('/secret.txt', 'the secret');
    const link = await share(t, token, { path: '/secret.txt', password: 'open sesame' });
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await page.goto(link.url);
    await page.getByRole('heading', { name: 'This link is protected by a password' }).waitFor();
    await expect.poll(() => focused(page)).toBe('input Password');
    await page.keyboard.type('guess');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong password for this link.');
    await page.locator('#share-password').fill('open sesame');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'secret.txt' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});
