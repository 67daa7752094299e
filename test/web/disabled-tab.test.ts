/**
 * A tab left open after its user is disabled, in real Chromium: the next thing it asks of
 * the server is refused, the page goes back to the sign-in form saying the session ended,
 * a reload does not bring the session back, and the password no longer signs in.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'dora', { password: 'dora-password-1' });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('a disabled user\'s open tab', () => {
  it('loses its session at its next request and cannot sign in again', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'dora', 'dora-password-1');
    await page.getByText('This folder is empty.').waitFor();
    const off = await t.api('/api/v1/users/dora', { method: 'PATCH', json: { disabled: true } });
    expect(off.status).toBe(200);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Trash' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Your session has ended' }).waitFor();
    await page.reload();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);
    await page.getByLabel('User name').fill('dora');
    await page.getByLabel('Password').fill('dora-password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });
});
