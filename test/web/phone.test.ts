/**
 * Every page of the web app in a phone-sized window (375 px) with the rows a real account
 * has: no page scrolls sideways (a wide table scrolls by itself), and each row's action
 * button can be scrolled into view and pressed.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

/** The text of an element (less what only a phone shows) cut where its lines break, as laid out. */
async function brokenAt(element: Locator, skip = '.phone-only'): Promise<string[]> {
  const lines = new Function(
    'e',
    'skip',
    `
    const out = [];
    let top;
    const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      if (skip && n.parentElement.closest(skip)) continue;
      for (let i = 0; i < n.data.length; i++) {
        const range = document.createRange();
        range.setStart(n, i);
        range.setEnd(n, i + 1);
        const box = range.getClientRects()[0];
        if (!box) continue;
        if (top === undefined || box.top > top + box.height / 2) out.push('');
        top = box.top;
        out[out.length - 1] += n.data[i];
      }
    }
    return out;`,
  ) as (e: unknown, skip: string) => string[];
  return element.evaluate(lines, skip);
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
  t = await startTestServer({ trashDays: 7, versions: { keep: 5, days: 0, paths: {} } });
  await addUser(t, 'pia', { password: 'pia-password-1', role: 'admin' });
  await addUser(t, 'otto', { password: 'otto-password-1', quotaBytes: 10 * 1024 * 1024 });
  await addUser(t, 'ida', { password: 'ida-password-1', quotaFiles: 100, maxFileSize: 50_000 });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'pia', password: 'pia-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  expect((await api('/api/v1/files/Documents/quarterly-report-2026.pdf', { method: 'PUT', body: 'a report' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/old-draft.txt', { method: 'PUT', body: 'a draft' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/old-draft.txt', { method: 'DELETE' })).status).toBeLessThan(300);
  expect((await api('/api/v1/files/Documents/minutes_of-the-annual-general-meeting.draft.txt', { method: 'PUT', body: 'minutes' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/minutes_of-the-annual-general-meeting.draft.txt', { method: 'DELETE' })).status).toBeLessThan(300);
  expect((await api('/api/v1/files/Documents/plan.txt', { method: 'PUT', body: 'plan one' })).status).toBe(201);
  expect((await api('/api/v1/files/Documents/plan.txt', { method: 'PUT', body: 'plan two' })).status).toBe(201);
  await share(t, token, { path: '/Documents/quarterly-report-2026.pdf', expiresInSeconds: 86_400, maxUses: 3 });
  await share(t, token, { path: '/Documents', kind: 'upload', maxBytes: 1_000_000_000 });
  expect((await api('/api/v1/tokens', { method: 'POST', json: { name: 'nightly backup script', expiresInSeconds: 90 * 86_400 } })).status).toBe(201);
  const keys = await mkdtemp(join(tmpdir(), 'ferry-phone-key-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'pia@a-laptop-with-a-long-hostname.example.org', '-f', join(keys, 'id')]);
    expect((await api('/api/v1/users/pia/keys', { method: 'POST', json: { keys: await readFile(join(keys, 'id.pub'), 'utf8') } })).status).toBe(201);
  } finally {
    await rm(keys, { recursive: true, force: true });
  }
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

  it('each table shows the columns that matter on a phone; trash names wrap at their boundaries, their buttons in the window', async () => {
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'pia', 'pia-password-1');
    const tables: Array<[string, string, string[]]> = [
      ['/files/Documents', 'Contents of /Documents', ['Select all', 'Name', 'Size']],
      ['/shares', 'Share links', ['Name', 'Expires', 'Status', 'Actions']],
      ['/tokens', 'API tokens', ['Name', 'Expires', 'Last used', 'Actions']],
      ['/trash', 'Trash', ['Name', 'Deleted', 'Actions']],
      ['/admin/users', 'Users', ['Name', 'Used', 'Status', 'Actions']],
      ['/account', 'SSH keys', ['Key', 'Comment', 'Last used', 'Actions']],
      ['/admin/audit', 'Audit log', ['Time', 'Event', 'Result', 'User']],
    ];
    for (const [path, heading, columns] of tables) {
      await page.goto(t.url + path);
      await (path.startsWith('/files') ? page.getByText(heading) : page.getByRole('heading', { name: heading, exact: true })).waitFor();
      const table = page.locator('table.listing').first();
      await table.locator('tbody td').first().waitFor();
      await expect.poll(() => table.locator('tbody tr').first().textContent()).not.toMatch(/Loading/);
      const shown = await table.locator('thead th').evaluateAll((ths) =>
        ths.filter((th) => (th as unknown as { offsetWidth: number }).offsetWidth > 0).map((th) => (th as unknown as { innerText: string; querySelector(s: string): { ariaLabel: string | null } | null }).innerText.trim().replace(/ ▲$/, '') || th.querySelector('input')?.ariaLabel || 'Actions'),
      );
      expect(shown, `${path}: the columns on a phone`).toEqual(columns);
      expect(await page.evaluate('document.documentElement.scrollWidth'), `${path}: the page's width`).toBeLessThanOrEqual(390);
      const box = (await table.boundingBox())!;
      expect(box.x + box.width, `${path}: the table's right edge (else it scrolls sideways)`).toBeLessThanOrEqual(390);
    }

    // The trash: a name breaks after "-", "/" or "_" or before ".", never mid-word; its folder shows under it; each button in the window unscrolled.
    await page.goto(t.url + '/trash');
    const row = page.getByRole('row').filter({ hasText: 'minutes_of' });
    const name = row.getByRole('cell').first();
    await name.waitFor();
    const lines = await brokenAt(name);
    expect(lines.join(''), lines.join(' | ')).toBe('minutes_of-the-annual-general-meeting.draft.txt');
    expect(lines.length, lines.join(' | ')).toBeGreaterThan(1);
    for (let i = 1; i < lines.length; i++) expect(/[-/_]$/.test(lines[i - 1]) || lines[i].startsWith('.'), lines.join(' | ')).toBe(true);
    expect(await brokenAt(page.getByRole('row').filter({ hasText: 'old-draft' }).getByRole('cell').first())).toEqual(['old-draft.txt']);
    await expect.poll(() => name.getByRole('link', { name: '/Documents' }).isVisible()).toBe(true);
    // One above the other, the same width.
    const boxes = await Promise.all((await row.getByRole('button').all()).map(async (b) => (await b.boundingBox())!));
    expect(boxes.length).toBe(2);
    for (const box of boxes) expect(box.x >= 0 && box.x + box.width <= 390, `${JSON.stringify(box)} inside the window`).toBe(true);
    expect(boxes[1].x).toBe(boxes[0].x);
    expect(boxes[1].width).toBe(boxes[0].width);
    expect(boxes[1].y).toBeGreaterThan(boxes[0].y);
    await expectAccessible(page, 'trash, narrow');

    // An SSH key's type stays one word; its comment breaks at its boundaries.
    await page.goto(t.url + '/account');
    const key = page.getByRole('row').filter({ hasText: 'pia@a-laptop' });
    await key.waitFor();
    expect(await brokenAt(key.locator('.key-type'))).toEqual(['ssh-ed25519']);
    const comment = await brokenAt(key.getByRole('cell').nth(1));
    for (let i = 1; i < comment.length; i++) expect(/[-/_]$/.test(comment[i - 1]) || comment[i].startsWith('.'), comment.join(' | ')).toBe(true);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);

    // The audit log: a target under its event, broken at its boundaries.
    await page.goto(t.url + '/admin/audit');
    const target = page.getByRole('row').filter({ hasText: 'file.delete' }).filter({ hasText: 'minutes_of' }).locator('.phone-only');
    await target.waitFor();
    const targetLines = await brokenAt(target, '');
    expect(targetLines.join(''), targetLines.join(' | ')).toMatch(/\/Documents\/minutes_of-the-annual-general-meeting\.draft\.txt$/);
    for (let i = 1; i < targetLines.length; i++) expect(/[-/_]$/.test(targetLines[i - 1]) || targetLines[i].startsWith('.'), targetLines.join(' | ')).toBe(true);

    // The versions dialog's buttons (its 4th column) are there on a phone too.
    await page.goto(t.url + '/files/Documents');
    await page.getByRole('checkbox', { name: 'Select plan.txt' }).check();
    await page.getByRole('button', { name: 'Versions' }).click();
    const restore = page.getByRole('dialog', { name: 'Versions of plan.txt' }).getByRole('button', { name: /^Restore the version replaced/ });
    await restore.waitFor();
    const box = (await restore.boundingBox())!;
    expect(box.x + box.width, 'Restore inside the window').toBeLessThanOrEqual(390);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('on a phone (390×844): an audit or trash time takes at most two lines, a trash button’s label one, and a share id keeps its "sh_" with its letters', async () => {
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'pia', 'pia-password-1');
    // The audit log: each time its date, then its clock time (never "2026-" / "12-07" / "04:05").
    await page.goto(t.url + '/admin/audit');
    const shareRow = page.getByRole('row').filter({ hasText: 'share.create' }).first();
    await shareRow.waitFor();
    for (const time of await page.locator('table.audit tbody tr td:first-child').all()) {
      const lines = await brokenAt(time);
      expect(lines.length, lines.join(' | ')).toBeLessThanOrEqual(2);
      expect(lines[0], lines.join(' | ')).toMatch(/^\d{4}-\d{2}-\d{2}\s?$/);
    }
    // A share id (the target of share.create, under the event) is not broken after its "sh_":
    // wider than the column, it breaks where the line is full, its prefix with letters after it.
    const id = await brokenAt(shareRow.locator('.phone-only'), '');
    expect(id.join(''), id.join(' | ')).toMatch(/^sh_[0-9a-f]{16}$/);
    expect(id[0], id.join(' | ')).toMatch(/^sh_[0-9a-f]{4,}$/);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    // The trash: each time as the audit log's; each button's label on one line, the buttons in the window.
    await page.goto(t.url + '/trash');
    const buttons = page.locator('table.trash td.actions button');
    await buttons.first().waitFor();
    for (const time of await page.locator('table.trash tbody tr td:nth-child(4)').all()) {
      const lines = await brokenAt(time);
      expect(lines.length, lines.join(' | ')).toBeLessThanOrEqual(2);
      expect(lines[0], lines.join(' | ')).toMatch(/^\d{4}-\d{2}-\d{2}\s?$|^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/);
    }
    for (const button of await buttons.all()) {
      const lines = await brokenAt(button);
      expect(lines, lines.join(' | ')).toHaveLength(1);
      const box = (await button.boundingBox())!;
      expect(box.x >= 0 && box.x + box.width <= 390, `${lines[0]}: ${JSON.stringify(box)} inside the window`).toBe(true);
    }
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('in a wide window the audit log keeps each time and event on one line, its targets wrapping instead', async () => {
    // A target longer than the window is wide: the columns left of it kept giving it room.
    const deep = '/Documents/' + 'a-folder-with-a-rather-long-name-for-the-audit-log/'.repeat(3) + 'notes.txt';
    expect((await api('/api/v1/files' + deep, { method: 'PUT', body: 'deep' })).status).toBe(201);
    const { context, page, errors } = await freshContext(browser, { width: 1280, height: 800 });
    await signIn(page, t.url, 'pia', 'pia-password-1');
    await page.goto(t.url + '/admin/audit');
    const row = page.getByRole('row').filter({ hasText: 'user.key-add' });
    await row.waitFor();
    expect(await brokenAt(row.getByRole('cell').nth(0))).toHaveLength(1);
    expect(await brokenAt(row.getByRole('cell').nth(1))).toEqual(['user.key-add']);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(1280);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('Admin → Users on a phone', () => {
  it("says each user's role and home under the name (the Home column is left out there), so an admin of / reads as everyone's files, not a copy of a user's", async () => {
    await addUser(t, 'root-admin', { password: 'root-admin-password-1', role: 'admin', home: '/' });
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'pia', 'pia-password-1');
    await page.goto(t.url + '/admin/users');
    const under = (name: string) => page.locator('table.users tbody tr', { hasText: name }).locator('td').first().locator('.phone-only');
    await under('root-admin').waitFor();
    expect(await under('root-admin').innerText()).toBe("admin · home / (everyone's files)");
    expect(await under('otto').innerText()).toBe('user · home /users/otto');
    for (const name of ['root-admin', 'otto']) {
      const box = (await under(name).boundingBox())!;
      const cell = (await page.locator('table.users tbody tr', { hasText: name }).locator('td').first().boundingBox())!;
      // Inside its Name cell, under the name, and in the window.
      expect(box.y).toBeGreaterThan(cell.y);
      expect(box.x + box.width).toBeLessThanOrEqual(cell.x + cell.width + 0.5);
      expect(box.x + box.width).toBeLessThanOrEqual(390);
    }
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    // A desktop window has the Role and Home columns: nothing under the names.
    await page.setViewportSize({ width: 1280, height: 800 });
    expect(await under('root-admin').isVisible()).toBe(false);
    expect(await page.locator('table.users tbody tr', { hasText: 'root-admin' }).getByRole('cell', { name: '/', exact: true }).isVisible()).toBe(true);
    expect(errors).toEqual([]);
    await context.close();
  });
});
