/**
 * The web app as a new user and a team's admin meet it, sixth round, each seen in Chromium:
 * leaving the page while uploads are not done asks first (the files would have to be picked
 * again).
 */
import { writeFileSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
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
