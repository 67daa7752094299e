/**
 * A reload while the page's session refresh is on its way: the server has rotated the
 * refresh token, but the page went away before its answer (and the new cookie) arrived, so
 * the reloaded page presents the token just retired. That is the person who owns the session,
 * not a thief: the server takes a retired token again for a short grace time after its
 * rotation (README, "Web sessions"), and only later treats it as stolen (the whole session
 * ends, as test/server/accounts checks).
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

let t: TestServer;
let browser: Browser;

beforeAll(async () => {
  t = await startTestServer({ rateLimit: { windowMs: 60_000, perIp: 0, perToken: 0, authPerIp: 0 } });
  await addUser(t, 'rey', { password: 'rey-password-1' });
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
});

describe('a reload during the session refresh', () => {
  it('keeps the person signed in, twice in a row', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'rey', 'rey-password-1');
    await page.getByText('This folder is empty.').waitFor();
    for (let round = 0; round < 2; round++) {
      // The next page load's refresh reaches the server (which rotates the token); its answer is held back.
      let reached!: () => void;
      const rotated = new Promise<void>((resolve) => (reached = resolve));
      await page.route('**/api/v1/auth/refresh', async (route) => {
        // Sent from here with the page's own headers (its cookie): the browser never sees the answer.
        const request = route.request();
        const answer = await fetch(request.url(), { method: 'POST', headers: await request.allHeaders(), body: request.postData() ?? undefined });
        expect(answer.status).toBe(200);
        reached();
        // Never fulfilled: the page reloads meanwhile and the new cookie is never stored.
      });
      void page.reload().catch(() => undefined);
      await rotated;
      await page.unrouteAll({ behavior: 'ignoreErrors' });
      await page.reload();
      await page.getByText('This folder is empty.').waitFor();
      expect(await page.getByRole('button', { name: 'Sign in' }).count()).toBe(0);
    }
    // Still one live session: a plain reload after the grace stays signed in as well.
    await page.reload();
    await page.getByText('This folder is empty.').waitFor();
    expect(errors.filter((e) => !/Failed to load resource|net::ERR_ABORTED/.test(e))).toEqual([]);
    await context.close();
  });
});
