/**
 * Small files from the web app go up in batches (src/client/blob-batch.ts): one session, packs,
 * one commit for many files, each still listed with its own progress and its own answer. And
 * the figures the app shows that change without the page: the Files page's quota line (a
 * file-count quota), the Users page's usage column; and a large folder's first page, drawn
 * before the rest of its listing has come.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { SCREENSHOTS, freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };
const tokens = new Map<string, string>();

async function api(user: string, path: string, init: RequestInit & { json?: unknown } = {}): Promise<Response> {
  return t.api(path, { ...init, token: tokens.get(user)! });
}

/** A folder of `n` files of 1-10 KiB of random bytes; their contents by name. */
function smallFiles(name: string, n: number): { folder: string; contents: Map<string, Buffer> } {
  const folder = join(dir.path, name);
  mkdirSync(folder);
  const contents = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const bytes = randomBytes(1024 + ((i * 937) % (9 * 1024)));
    writeFileSync(join(folder, `f-${i}.bin`), bytes);
    contents.set(`f-${i}.bin`, bytes);
  }
  return { folder, contents };
}

beforeAll(async () => {
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  dir = await tempDir('ferry-web-small-');
  for (const [name, extra] of [
    ['sam', {}],
    ['quin', { quotaFiles: 3 }],
    ['lou', {}],
  ] as const) {
    await addUser(t, name, { password: `${name}-password-1`, ...extra });
    tokens.set(name, (await tokenFor(t, name)).token);
  }
  await addUser(t, 'ada', { password: 'ada-password-1', role: 'admin' });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('small files from the browser', () => {
  it('150 files of 1-10 KiB go up in a few sessions and packs, not three requests a file; each is listed done with its size', async () => {
    const { folder, contents } = smallFiles('many', 150);
    const { context, page, errors } = await freshContext(browser);
    const sent: string[] = [];
    page.on('request', (r) => {
      const m = /\/api\/v1\/uploads(\/[^/]+(\/[a-z-]+)?)?$/.exec(new URL(r.url()).pathname);
      if (m && r.method() !== 'GET') sent.push(`${r.method()} ${m[2] ?? (m[1] ? '' : '/uploads')}`);
    });
    try {
      expect((await api('sam', '/api/v1/mkdir/again', { method: 'POST' })).status).toBe(201);
      await signIn(page, t.url, 'sam', 'sam-password-1');
      await page.getByTestId('upload-folder').setInputFiles(folder);
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 120_000, interval: 500 }).toBe(150);
      // One session of at most 200 files: a creation, a pack (under 16 MiB), a commit.
      expect(sent.filter((s) => s === 'POST /uploads')).toHaveLength(1);
      expect(sent.filter((s) => s === 'POST /commit')).toHaveLength(1);
      expect(sent.length).toBeLessThanOrEqual(5);
      for (const name of ['f-0.bin', 'f-77.bin', 'f-149.bin']) {
        const res = await api('sam', `/api/v1/files/many/${name}`);
        expect(Buffer.from(await res.arrayBuffer()).equals(contents.get(name)!), name).toBe(true);
      }
      // Each file's own progress: its whole size, and the total is the sum.
      const item = page.locator('li.upload', { hasText: '/many/f-77.bin' });
      expect(Number(await item.getByRole('progressbar').getAttribute('value'))).toBe(contents.get('f-77.bin')!.length);
      expect(await page.locator('.uploads p.total').textContent()).toMatch(/^ (\S+ \S+) of \1$/);
      expect(await item.textContent()).not.toContain('already on the server');
      // The same files into another folder: nothing travels again, and each file says so.
      await page.getByRole('button', { name: 'Clear finished' }).click();
      await page.getByRole('link', { name: 'again' }).click();
      await page.getByText('This folder is empty.').waitFor();
      sent.length = 0;
      await page.getByTestId('upload-folder').setInputFiles(folder);
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 120_000, interval: 500 }).toBe(150);
      expect(sent.filter((s) => s === 'POST /packs')).toEqual([]);
      expect(await page.locator('li.upload', { hasText: '/again/many/f-77.bin' }).textContent()).toContain('already on the server');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('a batch\'s files each show their progress and say that the speed and time left shown are the batch\'s', async () => {
    const { folder, contents } = smallFiles('told', 6);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'sam', 'sam-password-1');
      let release = () => {};
      const released = new Promise<void>((r) => (release = r));
      await page.route('**/api/v1/uploads/*/commit', async (route) => {
        await released;
        await route.continue();
      });
      await page.getByTestId('upload-folder').setInputFiles(folder);
      // The pack is in, the commit held: each file is all there, and its row says whose speed it shows.
      const row = page.locator('li.upload', { hasText: '/told/f-2.bin' });
      await expect.poll(async () => Number(await row.getByRole('progressbar').getAttribute('value')), { timeout: 60_000 }).toBe(contents.get('f-2.bin')!.length);
      expect(await row.getAttribute('data-state')).toBe('running');
      expect(await row.textContent()).toContain('in one upload with 5 other files (speed and time left: of all 6)');
      release();
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(6);
      expect(await row.textContent()).toContain('sent in one upload with 5 other files');
      expect(await row.textContent()).not.toContain('speed and time left');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('a name taken while the batch was on its way: that file asks about replacing, the others of its batch are uploaded', async () => {
    const { folder, contents } = smallFiles('race', 6);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'sam', 'sam-password-1');
      // Another client writes race/f-3.bin after the page looked (it was free) and before the commit.
      let raced = false;
      await page.route('**/api/v1/uploads/*/commit', async (route) => {
        if (!raced) {
          raced = true;
          expect((await api('sam', '/api/v1/files/race/f-3.bin', { method: 'PUT', body: 'written meanwhile' })).status).toBe(201);
        }
        await route.continue();
      });
      await page.getByTestId('upload-folder').setInputFiles(folder);
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 120_000, interval: 300 }).toBe(5);
      await expect.poll(() => page.locator('li.upload[data-state=failed]').count()).toBe(1);
      const taken = page.locator('li.upload', { hasText: '/race/f-3.bin' });
      expect(await taken.getByRole('alert').textContent()).toBe('f-3.bin already exists here: replace it, or cancel this upload.');
      expect(await (await api('sam', '/api/v1/files/race/f-3.bin')).text()).toBe('written meanwhile');
      const other = Buffer.from(await (await api('sam', '/api/v1/files/race/f-5.bin')).arrayBuffer());
      expect(other.equals(contents.get('f-5.bin')!)).toBe(true);
      // Replace sends it alone, over the other client's file.
      await page.getByRole('button', { name: 'Replace /race/f-3.bin' }).click();
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(6);
      expect(Buffer.from(await (await api('sam', '/api/v1/files/race/f-3.bin')).arrayBuffer()).equals(contents.get('f-3.bin')!)).toBe(true);
      const info = (await (await t.api('/api/v1/users/sam')).json()) as { uploadSessions: number };
      expect(info.uploadSessions, 'sessions left open').toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('one file of a batch paused while its pack is on the way: it stays paused, the others go up without it, and Resume sends it', async () => {
    const { folder, contents } = smallFiles('paused', 4);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'sam', 'sam-password-1');
      let hold = true;
      let held = 0;
      await page.route('**/api/v1/uploads/*/packs', async (route) => {
        if (hold) {
          held++;
          return; // never answered: the pause aborts it
        }
        await route.continue();
      });
      await page.getByTestId('upload-folder').setInputFiles(folder);
      await expect.poll(() => held, { timeout: 60_000 }).toBe(1);
      hold = false;
      await page.getByRole('button', { name: 'Pause f-1.bin' }).click();
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(3);
      expect(await page.locator('li.upload[data-state=paused]').getAttribute('aria-label')).toBe('/paused/f-1.bin: paused');
      expect((await api('sam', '/api/v1/stat/paused/f-1.bin')).status).toBe(404);
      await page.getByRole('button', { name: 'Resume f-1.bin' }).click();
      await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(4);
      expect(Buffer.from(await (await api('sam', '/api/v1/files/paused/f-1.bin')).arrayBuffer()).equals(contents.get('f-1.bin')!)).toBe(true);
      const info = (await (await t.api('/api/v1/users/sam')).json()) as { uploadSessions: number };
      expect(info.uploadSessions, 'sessions left open').toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);

  it('a file-count quota: the batch refused, each file gets its own answer (3 uploaded, 2 refused with what to do), and the quota line says the file quota is full', async () => {
    const { folder } = smallFiles('five', 5);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'quin', 'quin-password-1');
      await expect.poll(() => page.locator('p.quota').textContent()).toContain('0 files of 3');
      await page.getByTestId('upload-folder').setInputFiles(folder);
      await expect.poll(() => page.locator('li.upload[data-state=done], li.upload[data-state=failed]').count(), { timeout: 120_000, interval: 300 }).toBe(5);
      expect(await page.locator('li.upload[data-state=done]').count()).toBe(3);
      const refused = page.locator('li.upload[data-state=failed]').first();
      expect(await refused.getByRole('alert').textContent()).toMatch(/quota.*Make room, then Retry/i);
      await expect.poll(() => page.locator('p.quota').textContent(), { timeout: 30_000 }).toContain('3 files of 3 (full: delete files to upload more)');
      expect(await page.getByRole('progressbar', { name: 'File quota used' }).getAttribute('value')).toBe('3');
      // Both quotas on a phone: the line wraps, the page does not scroll sideways.
      await page.setViewportSize({ width: 375, height: 800 });
      expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(376);
      await page.locator('p.quota').screenshot({ path: `${SCREENSHOTS}quota-files-phone.png` });
      // No session is left open by the refused batch or the refused files.
      const info = (await (await t.api('/api/v1/users/quin')).json()) as { usage: { files: number }; uploadSessions: number };
      expect(info.usage.files).toBe(3);
      expect(info.uploadSessions).toBe(0);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);
});

describe('figures that change without the page', () => {
  it('the Users page shows a user’s usage growing without a reload', async () => {
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'ada', 'ada-password-1');
      await page.getByRole('link', { name: 'Admin' }).click();
      const row = page.getByRole('row').filter({ has: page.getByRole('cell', { name: 'lou', exact: true }) });
      await expect.poll(() => row.getByRole('cell', { name: /in \d+ files?/ }).textContent(), { timeout: 30_000 }).toBe('0 B in 0 files');
      expect((await api('lou', '/api/v1/files/new.txt', { method: 'PUT', body: 'twelve bytes' })).status).toBe(201);
      await expect.poll(() => row.getByRole('cell', { name: /in \d+ files?/ }).textContent(), { timeout: 30_000, interval: 500 }).toBe('12 B in 1 file');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);

  it('a folder of 1,500 files shows its first 1,000 while the rest are being listed', async () => {
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const files = Array.from({ length: 1500 }, (_, i) => ({ path: `/big/e-${String(i).padStart(4, '0')}.txt`, size: 0, hash: sha(Buffer.alloc(0)), chunks: [] }));
    const created = await api('lou', '/api/v1/uploads', { method: 'POST', json: { files } });
    expect(created.status).toBe(201);
    const { id } = (await created.json()) as { id: string };
    expect((await api('lou', `/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} })).status).toBe(200);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'lou', 'lou-password-1');
      // The second page of the listing waits until the test has seen the first drawn.
      let release = () => {};
      const released = new Promise<void>((r) => (release = r));
      await page.route('**/api/v1/list/big?*', async (route) => {
        if (new URL(route.request().url()).searchParams.has('cursor')) await released;
        await route.continue();
      });
      await page.getByRole('link', { name: 'big' }).click();
      await page.getByRole('button', { name: 'Open e-0000.txt' }).waitFor();
      await page.getByText('Listing the rest of this folder…').waitFor();
      expect(await page.getByRole('button', { name: 'Open e-1499.txt' }).count()).toBe(0);
      release();
      await page.getByText('Listing the rest of this folder…').waitFor({ state: 'detached' });
      await page.getByLabel('Filter by name').fill('e-1499');
      await page.getByRole('button', { name: 'Open e-1499.txt' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});
