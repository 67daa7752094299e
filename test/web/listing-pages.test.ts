/**
 * The web app's Tokens and Share links pages show every token and link, past the first page
 * of the listing (the SDK asks for 1,000 at a time and follows `next`): 1,003 of each, put
 * straight into the store, all shown, the oldest (on the second page) included.
 */
import { randomBytes } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/server/auth.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const N = 1_003;

let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  t = await startTestServer();
  const wes = await addUser(t, 'wes', { password: 'wes-password-1' });
  expect((await t.api(`/api/v1/mkdir${wes.home}/pub`, { method: 'POST' })).status).toBe(201);
  const { users, shares } = t.server.ctx;
  for (let i = 0; i < N; i++) {
    await users.insertToken({ id: newToken().id, user_id: wes.id, name: `bulk token ${i}`, secret_hash: 'x', scopes: '*', path_prefix: null, created_at: 1_000 + i, expires_at: null, last_used_at: null, revoked_at: null, from_login: 0 });
    await shares.insert({ id: `sh_${randomBytes(8).toString('hex')}`, key_hash: randomBytes(32).toString('hex'), user_id: wes.id, path: '/pub', kind: 'download', name: `bulk link ${i}`, password_hash: null, expires_at: null, max_uses: null, uses: 0, created_at: 1_000 + i, revoked_at: null, last_used_at: null, max_bytes: null, bytes_received: 0, target_type: 'dir', made_with: null });
  }
  browser = await launch();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('web app listings past one page', () => {
  it(`the Tokens and Share links pages show all ${N}, the oldest included`, async () => {
    const { context, page, errors } = await freshContext(browser);
    try {
      await signIn(page, t.url, 'wes', 'wes-password-1');
      await page.getByRole('link', { name: 'Tokens' }).click();
      await page.getByRole('cell', { name: 'bulk token 0', exact: true }).waitFor();
      expect(await page.getByRole('cell', { name: /^bulk token \d+$/ }).count()).toBe(N);

      await page.getByRole('link', { name: 'Share links' }).click();
      await page.getByRole('cell', { name: /^bulk link 0\b/ }).first().waitFor();
      expect(await page.getByRole('button', { name: /^Revoke link bulk link \d+ / }).count()).toBe(N);
      expect(errors).toEqual([]);
    } finally {
      await context.close();
    }
  }, 180_000);
});
