/**
 * The web app as a new user and a team's admin meet it, sixth round, each seen in Chromium:
 * leaving the page or signing out while uploads are not done asks first (the files would have
 * to be picked again), and a signed-out user's uploads stop and are not the next user's; the Admin page shows what each user stores against their quota; the Account page
 * counts one file as "1 file"; a folder of 1,200 files draws 500 rows and the rest on demand,
 * while sort, filter and Select all see them all; an upload refused by the account's limits
 * says what to do (and Retry only where it can help).
 */
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const MiB = 1024 * 1024;
/** The page's chunk requests: one PUT per chunk, or several chunks in a POST of chunk frames. */
const CHUNK_REQUESTS = /\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|chunk-frames|packs)$/;

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'nina', { password: 'nina-password-1' });
  await addUser(t, 'boss', { password: 'boss-password-1', role: 'admin' });
  await addUser(t, 'fay', { password: 'fay-password-1' });
  await addUser(t, 'lou', { password: 'lou-password-1', quotaBytes: 1_000_000, maxFileSize: 600_000 });
  await addUser(t, 'sam', { password: 'sam-password-1' });
  await addUser(t, 'otto', { password: 'otto-password-1' });
  await addUser(t, 'tess', { password: 'tess-password-1', quotaBytes: 1_000_000, quotaFiles: 10 });
  dir = await tempDir('ferry-web-round6-');
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('leaving the page while uploading', () => {
  it('asks first while an upload is not done (its file would have to be picked again); once all are done, leaves without asking', async () => {
    const big = `${dir.path}/big.bin`;
    await writeRandomFile(big, 8 * MiB);
    const small = `${dir.path}/small.txt`;
    writeFileSync(small, 'a small file');
    const { context, page, errors } = await freshContext(browser);
    const asked: string[] = [];
    page.on('dialog', (d) => {
      asked.push(d.type());
      void d.accept();
    });
    try {
      await signIn(page, t.url, 'nina', 'nina-password-1');
      await page.getByText('This folder is empty.').waitFor();
      // The chunks never arrive: the upload stays running until the page goes.
      await page.route(CHUNK_REQUESTS, () => undefined);
      await page.getByTestId('upload-files').setInputFiles(big);
      await page.locator('li.upload[data-state=running]').waitFor();
      await page.reload();
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      expect(asked).toEqual(['beforeunload']);

      await page.unroute(CHUNK_REQUESTS);
      await page.getByTestId('upload-files').setInputFiles(small);
      await page.locator('li.upload[data-state=done]').waitFor();
      await page.reload();
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      expect(asked).toEqual(['beforeunload']);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe('signing out while uploading', () => {
  it('asks first; once signed out the uploads stop, the next user of the tab is not asked about them on leaving, and signing in again offers them for resuming', async () => {
    const big = `${dir.path}/sams.bin`;
    await writeRandomFile(big, 8 * MiB);
    const { context, page, errors } = await freshContext(browser);
    const asked: string[] = [];
    page.on('dialog', (d) => {
      asked.push(d.type());
      void d.accept();
    });
    try {
      await signIn(page, t.url, 'sam', 'sam-password-1');
      await page.getByText('This folder is empty.').waitFor();
      await page.route(CHUNK_REQUESTS, () => undefined);
      await page.getByTestId('upload-files').setInputFiles(big);
      await page.locator('li.upload[data-state=running]').waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      const dialog = page.getByRole('dialog', { name: 'Sign out' });
      expect(await dialog.getByRole('paragraph').textContent()).toBe('1 upload is not done: signing out stops it. After you sign in again, pick the same files and they go on from where they stopped.');
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      expect(await page.locator('li.upload[data-state=running]').count()).toBe(1);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await dialog.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();
      await page.unroute(CHUNK_REQUESTS);

      await signIn(page, t.url, 'otto', 'otto-password-1');
      await page.getByText('This folder is empty.').waitFor();
      await page.reload();
      await page.getByRole('navigation', { name: 'Main' }).waitFor();
      expect(asked).toEqual([]);
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in' }).waitFor();

      await signIn(page, t.url, 'sam', 'sam-password-1');
      await page.locator('li.upload[data-state=needs-file]', { hasText: '/sams.bin' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

async function tokenOf(user: string, password: string): Promise<string> {
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) });
  return ((await login.json()) as { token: string }).token;
}

/** Puts a file of `size` bytes into a user's home, as that user. */
async function putAs(user: string, password: string, path: string, size: number): Promise<void> {
  const token = await tokenOf(user, password);
  const r = await fetch(`${t.url}/api/v1/files${path}`, { method: 'PUT', body: Buffer.alloc(size, 7), headers: { authorization: `Bearer ${token}` } });
  expect(r.status, path).toBe(201);
}

describe('usage, as the admin and the user see it', () => {
  it('the Account page says "1 of 10 files" (it said "1 files of 10"); the Users table says what each user stores and how much of the quota, with the new figures after an upload and a reload', async () => {
    await putAs('tess', 'tess-password-1', '/report.bin', 250_000);
    const tess = await freshContext(browser);
    await signIn(tess.page, t.url, 'tess', 'tess-password-1');
    await tess.page.getByRole('link', { name: 'Account' }).click();
    await expect.poll(() => tess.page.getByRole('definition').first().textContent()).toBe('tess');
    await expect.poll(() => tess.page.getByRole('definition').nth(2).textContent()).toBe('244 KiB of 977 KiB · 1 of 10 files');
    expect(tess.errors).toEqual([]);
    await tess.context.close();

    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'boss', 'boss-password-1');
      await page.getByRole('link', { name: 'Admin' }).click();
      // The admin pages come as a chunk of their own on the first visit: their table once it is there.
      await page.getByRole('columnheader', { name: 'Name' }).first().waitFor();
      expect(await page.getByRole('columnheader', { name: 'Used' }).count()).toBe(1);
      const usedBy = (name: string) => () => page.getByRole('row').filter({ has: page.getByRole('cell', { name, exact: true }) }).getByRole('cell').nth(4).textContent();
      await expect.poll(usedBy('tess')).toBe('244 KiB in 1 file (25% of quota)');
      // A user without a quota: what they store, no share of a quota.
      await expect.poll(usedBy('boss (you)')).toBe('0 B in 0 files');
      await putAs('tess', 'tess-password-1', '/more.bin', 250_000);
      await page.reload();
      await expect.poll(usedBy('tess')).toBe('488 KiB in 2 files (50% of quota)');
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe('a folder of many files', () => {
  const N = 1_200;
  const name = (i: number) => `file-${String(i).padStart(5, '0')}.txt`;

  it(`of ${N.toLocaleString('en')}: 500 rows drawn and "Show 500 more"; the filter, the sort and Select all see every file`, async () => {
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'fay', password: 'fay-password-1' }) });
    const { token } = (await login.json()) as { token: string };
    let next = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < N) {
          const i = next++;
          const r = await fetch(`${t.url}/api/v1/files/many/${name(i)}`, { method: 'PUT', body: `file ${i}`, headers: { authorization: `Bearer ${token}` } });
          expect(r.status).toBe(201);
        }
      }),
    );
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'fay', 'fay-password-1');
      await page.getByRole('link', { name: 'many' }).click();
      const files = page.getByRole('button', { name: /^Open file-/ });
      await page.getByRole('button', { name: 'Open file-00000.txt' }).waitFor();
      expect(await files.count()).toBe(500);
      expect(await page.getByRole('cell', { name: /of 1,200 shown/ }).textContent()).toBe('500 of 1,200 shown; the filter looks through them all. Show 500 more');

      // A file past the rows drawn: the filter finds it.
      await page.getByLabel('Filter by name').fill('file-01150');
      await page.getByRole('button', { name: 'Open file-01150.txt' }).waitFor();
      expect(await files.count()).toBe(1);
      expect(await page.getByRole('button', { name: /^Show \d+ more$/ }).count()).toBe(0);
      await page.getByLabel('Filter by name').fill('');

      // The sort is of the whole folder: the last name first.
      await page.getByRole('columnheader', { name: 'Name' }).getByRole('button').click();
      await expect.poll(() => files.first().getAttribute('aria-label')).toBe('Open file-01199.txt');

      await page.getByRole('checkbox', { name: 'Select all' }).check();
      await expect.poll(() => page.locator('[role=status]').textContent()).toBe(' 1,200 selected');
      await page.getByRole('checkbox', { name: 'Select all' }).uncheck();

      await page.getByRole('button', { name: 'Show 500 more' }).click();
      await expect.poll(() => files.count()).toBe(1_000);
      await page.getByRole('button', { name: 'Show 200 more' }).click();
      await expect.poll(() => files.count()).toBe(N);
      expect(await page.getByRole('button', { name: /^Show \d+ more$/ }).count()).toBe(0);
      await page.getByRole('button', { name: 'Open file-00000.txt' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 120_000);
});

describe("an upload refused by the account's limits", () => {
  it('over the quota: says how to make room, and Retry goes through once there is room; over the largest file: says to ask the admin, no Retry', async () => {
    for (const [name, size] of [['first.bin', 500_000], ['second.bin', 550_000], ['huge.bin', 700_000]] as const) await writeRandomFile(`${dir.path}/${name}`, size);
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'lou', 'lou-password-1');
      await page.getByText('This folder is empty.').waitFor();
      await page.getByTestId('upload-files').setInputFiles(`${dir.path}/first.bin`);
      await page.locator('li.upload[data-state=done]').waitFor();

      await page.getByTestId('upload-files').setInputFiles(`${dir.path}/second.bin`);
      const second = page.locator('li.upload', { hasText: '/second.bin' });
      await second.and(page.locator('[data-state=failed]')).waitFor();
      expect(await second.getByRole('alert').textContent()).toMatch(
        /^Quota exceeded: .*\. Make room, then Retry: delete files you no longer need \(the trash does not count against your quota\), or ask your admin for a larger quota\.$/,
      );
      await page.getByTestId('upload-files').setInputFiles(`${dir.path}/huge.bin`);
      const huge = page.locator('li.upload', { hasText: '/huge.bin' });
      await huge.and(page.locator('[data-state=failed]')).waitFor();
      expect(await huge.getByRole('alert').textContent()).toBe(
        '/huge.bin: 684 KiB is more than the largest file allowed (586 KiB). Sending it again will not help: ask your admin to raise the largest file your account may upload.',
      );
      expect(await huge.getByRole('button', { name: 'Retry huge.bin' }).count()).toBe(0);

      // Room made: the same upload goes through on Retry.
      await page.getByRole('checkbox', { name: 'Select first.bin' }).check();
      await page.getByRole('toolbar', { name: 'Files' }).getByRole('button', { name: 'Delete' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Delete' }).click();
      await expect.poll(() => page.getByRole('button', { name: 'Open first.bin' }).count()).toBe(0);
      await second.getByRole('button', { name: 'Retry second.bin' }).click();
      await second.and(page.locator('[data-state=done]')).waitFor();
      await page.getByRole('button', { name: 'Open second.bin' }).waitFor();
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 60_000);
});

describe('the Share links page, by screen reader', () => {
  it('a link with a password reads "name password", not the two run together', async () => {
    await putAs('otto', 'otto-password-1', '/plan.txt', 100);
    await share(t, await tokenOf('otto', 'otto-password-1'), { path: '/plan.txt', password: 'otto-link-pass' });
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'otto', 'otto-password-1');
      await page.getByRole('link', { name: 'Share links' }).click();
      await page.getByRole('button', { name: 'Revoke link plan.txt (/plan.txt)' }).waitFor();
      expect(await page.getByRole('cell', { name: 'plan.txt password', exact: true }).count()).toBe(1);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
