/**
 * Every page of the web app in a phone-sized window (375 px) with the rows a real account
 * has: no page scrolls sideways (a wide table scrolls by itself), and each row's action
 * button can be scrolled into view and pressed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
import { expectAccessible, freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let token: string;

async function api(path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (init.json !== undefined) headers['content-type'] = 'application/json';
  return fetch(t.url + path, { ...init, body: init.json !== undefined ? JSON.stringify(init.json) : init.body, headers });
}

/** Each line of an element as a person reads it: its words and bars whose middles lie within one line's height, top to bottom. */
async function linesOf(element: Locator): Promise<string[]> {
  // Its body a string: this file is compiled without the DOM's types.
  const lines = new Function(
    'p',
    `
    const rows = [];
    const add = (r, what) => {
      const middle = (r.top + r.bottom) / 2;
      const row = rows.find((l) => middle > l.top && middle < l.bottom);
      if (row) row.parts.push(what);
      else rows.push({ top: r.top, bottom: r.bottom, parts: [what] });
    };
    const walker = document.createTreeWalker(p, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (n instanceof HTMLProgressElement) add(n.getBoundingClientRect(), '[bar]');
      if (!(n instanceof Text) || n.parentElement?.closest('.visually-hidden')) continue;
      for (const word of n.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(n, word.index);
        range.setEnd(n, word.index + word[0].length);
        const box = range.getClientRects()[0];
        if (box && box.width > 0) add(box, word[0]);
      }
    }
    return rows.sort((a, b) => a.top - b.top).map((l) => l.parts.join(' '));`,
  ) as (p: unknown) => string[];
  return element.evaluate(lines);
}

beforeAll(async () => {
  t = await startTestServer({ trashDays: 7 });
  await addUser(t, 'pia', { password: 'pia-password-1', role: 'admin' });
  await addUser(t, 'otto', { password: 'otto-password-1', quotaBytes: 10 * 1024 * 1024 });
  await addUser(t, 'ida', { password: 'ida-password-1', quotaFiles: 100, maxFileSize: 50_000 });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'pia', password: 'pia-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  expect((await api('/api/v1/files/Documents/quarterly-report-2026.pdf', { method: 'PUT', body: 'a report' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/old-draft.txt', { method: 'PUT', body: 'a draft' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/old-draft.txt', { method: 'DELETE' })).status).toBeLessThan(300);
  await share(t, token, { path: '/Documents/quarterly-report-2026.pdf', expiresInSeconds: 86_400, maxUses: 3 });
  await share(t, token, { path: '/Documents', kind: 'upload', maxBytes: 1_000_000_000 });
  expect((await api('/api/v1/tokens', { method: 'POST', json: { name: 'nightly backup script', expiresInSeconds: 90 * 86_400 } })).status).toBe(201);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('a phone-sized window', () => {
  it('no page scrolls sideways; each row\'s last action can be reached and is inside the window once scrolled to', async () => {
    const { context, page, errors } = await freshContext(browser, { width: 375, height: 740 });
    await signIn(page, t.url, 'pia', 'pia-password-1');
    const pages: Array<[string, string, string | RegExp]> = [
      ['/files/Documents', 'Contents of /Documents', 'Select quarterly-report-2026.pdf'],
      ['/shares', 'Share links', 'Revoke link quarterly-report-2026.pdf (/Documents/quarterly-report-2026.pdf)'],
      ['/tokens', 'API tokens', 'Revoke token nightly backup script'],
      ['/trash', 'Trash', /^Restore .*old-draft\.txt$/],
      ['/admin/users', 'Users', 'Grants'],
    ];
    for (const [path, heading, action] of pages) {
      await page.goto(t.url + path);
      await (path.startsWith('/files') ? page.getByText(heading) : page.getByRole('heading', { name: heading, exact: true })).waitFor();
      const control = page.getByRole(String(action).startsWith('Select') ? 'checkbox' : 'button', { name: action }).last();
      await control.waitFor();
      expect(await page.evaluate('document.documentElement.scrollWidth'), `${path}: the page's width`).toBeLessThanOrEqual(376);
      await control.scrollIntoViewIfNeeded();
      const box = await control.boundingBox();
      expect(box, `${path}: ${action}`).not.toBeNull();
      expect(box!.x + box!.width, `${path}: ${action} inside the window`).toBeLessThanOrEqual(375);
      expect(await page.evaluate('document.documentElement.scrollWidth'), `${path}: the page's width after scrolling the table`).toBeLessThanOrEqual(376);
      await expectAccessible(page, `${path}, narrow`);
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the quota line breaks between its parts, never after the "·" and never between a bar and its count', async () => {
    const ida = (await (await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ida', password: 'ida-password-1' }) })).json()) as { token: string };
    expect((await fetch(t.url + '/api/v1/files/notes.txt', { method: 'PUT', body: 'x'.repeat(9600), headers: { authorization: `Bearer ${ida.token}` } })).status).toBe(201);
    const { context, page, errors } = await freshContext(browser, { width: 375, height: 740 });
    await signIn(page, t.url, 'ida', 'ida-password-1');
    const quota = page.locator('p.quota');
    await quota.getByText('9.4 KiB used').waitFor();
    const lines = await linesOf(quota);
    expect(lines.length, lines.join(' | ')).toBeGreaterThan(0);
    for (const line of lines) expect(line, lines.join(' | ')).not.toMatch(/·$/);
    expect(lines.some((line) => /\[bar\] 1 file of 100/.test(line)), lines.join(' | ')).toBe(true);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(376);

    // The uploads' total line: its bar, then "9.8 KiB of 9.8 KiB · 1 failed", not broken after a "·".
    const dir = await mkdtemp(join(tmpdir(), 'ferry-phone-'));
    try {
      await writeFile(join(dir, 'small.txt'), 'y'.repeat(10_000));
      await writeFile(join(dir, 'too-large.bin'), Buffer.alloc(60_000, 1));
      await page.getByTestId('upload-files').setInputFiles([join(dir, 'small.txt'), join(dir, 'too-large.bin')]);
      await page.locator('li.upload[data-state=failed]').waitFor();
      await page.locator('li.upload[data-state=done]').waitFor();
      const total = page.locator('p.total');
      await total.getByText(/1 failed/).waitFor();
      const totalLines = await linesOf(total);
      for (const line of totalLines) expect(line, totalLines.join(' | ')).not.toMatch(/·$/);
      expect(totalLines.some((line) => /of 9\.8 KiB · 1 failed/.test(line)), totalLines.join(' | ')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(errors).toEqual([]);
    await context.close();
  });
});
