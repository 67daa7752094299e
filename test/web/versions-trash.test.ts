/**
 * The web app's versions and trash, in real Chromium against a real server: a file's old
 * versions listed, one downloaded and one restored (the server then holds its bytes, and the replaced
 * content became a version); deletes that say where files go; the trash page restoring a
 * file in place, elsewhere, and everything one folder delete removed; emptying it; and a
 * server without a trash saying that deletes are final; a trash of more than a page shown a
 * page at a time, the rest on demand. A file deleted from an end-to-end
 * vault shows no stored (encrypted) name: "(encrypted name)" until its vault is unlocked in
 * the tab, then its plain name; it is restored in place. The restore notice lasts until the
 * person's next action; the Trash page asks `/me` once.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser } from '../helpers/users.js';
import { expectAccessible, freshContext, launch, screenshot, signIn } from './browser.js';

let t: TestServer;
let plain: TestServer;
let browser: Browser;
let token: string;

async function login(server: TestServer, user: string, password: string): Promise<string> {
  const r = await fetch(server.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user, password }) });
  expect(r.status).toBe(201);
  return ((await r.json()) as { token: string }).token;
}

const filesPath = (p: string) => `/api/v1/files${p.split('/').map(encodeURIComponent).join('/')}`;

async function put(server: TestServer, tok: string, path: string, body: string): Promise<void> {
  const r = await fetch(server.url + filesPath(path), { method: 'PUT', body, headers: { authorization: `Bearer ${tok}` } });
  expect([200, 201], path).toContain(r.status);
}

async function content(path: string): Promise<string | number> {
  const r = await fetch(t.url + filesPath(path), { headers: { authorization: `Bearer ${token}` } });
  return r.status === 200 ? await r.text() : r.status;
}

async function trash(): Promise<Array<{ id: number; path: string }>> {
  const r = await fetch(t.url + '/api/v1/trash', { headers: { authorization: `Bearer ${token}` } });
  return ((await r.json()) as { entries: Array<{ id: number; path: string }> }).entries;
}

async function deleteInUi(page: Page, name: string, says: RegExp): Promise<void> {
  await page.getByRole('checkbox', { name: `Select ${name}` }).check();
  await page.getByRole('button', { name: 'Delete', exact: true }).click();
  const dialog = page.getByRole('dialog');
  await expect.poll(() => dialog.textContent()).toMatch(says);
  await dialog.getByRole('button', { name: 'Delete' }).click();
  await expect.poll(() => page.getByRole('checkbox', { name: `Select ${name}` }).count()).toBe(0);
}

beforeAll(async () => {
  t = await startTestServer({ versions: { keep: 5, days: 0, paths: {} }, trashDays: 7 });
  plain = await startTestServer();
  for (const s of [t, plain]) await addUser(s, 'vera', { password: 'vera-password-1' });
  token = await login(t, 'vera', 'vera-password-1');
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await plain?.close();
});

describe('web app: versions and trash', () => {
  it('lists a file\'s old versions, downloads one and restores one; the content it replaced becomes a version', async () => {
    await put(t, token, '/notes.txt', 'first draft');
    await put(t, token, '/notes.txt', 'second draft, longer');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'vera', 'vera-password-1');
    await page.getByRole('checkbox', { name: 'Select notes.txt' }).check();
    await page.getByRole('button', { name: 'Versions' }).click();
    const dialog = page.getByRole('dialog', { name: 'Versions of notes.txt' });
    const restore = dialog.getByRole('button', { name: /^Restore the version replaced .* \(11 B\)$/ });
    await restore.waitFor();
    expect(await dialog.getByRole('button', { name: /^Restore the version/ }).count()).toBe(1);
    await expectAccessible(page, 'versions dialog');
    await screenshot(page, 'versions');
    // Download gives the old bytes, not the current ones.
    const [download] = await Promise.all([page.waitForEvent('download'), dialog.getByRole('button', { name: /^Download the version replaced .* \(11 B\)$/ }).click()]);
    expect(download.suggestedFilename()).toBe('notes.txt');
    expect(readFileSync((await download.path())!, 'utf8')).toBe('first draft');
    const row = page.getByRole('row').filter({ has: page.getByRole('checkbox', { name: 'Select notes.txt' }) });
    expect(await row.innerText()).toContain('20 B');
    await restore.click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await content('/notes.txt')).toBe('first draft');
    // Said in the page's live region (it said nothing before), shown, and the listing shows the restored content's size.
    const said = /^Restored notes\.txt as it was before \d{4}-\d\d-\d\d \d\d:\d\d \(11 B\); what it replaced is kept as a version\.$/;
    const status = async () => ((await page.getByRole('status').textContent()) ?? '').trim();
    await expect.poll(status, { timeout: 10_000 }).toMatch(said);
    expect(await page.locator('p.notice').innerText()).toMatch(said);
    await expect.poll(() => row.innerText(), { timeout: 10_000 }).toContain('11 B');
    // Selecting again says the selection, not the restore of before.
    await page.getByRole('checkbox', { name: 'Select notes.txt' }).uncheck();
    await expect.poll(status).toBe('Nothing selected');
    expect(await page.locator('p.notice').count()).toBe(0);
    const versions = (await (await fetch(t.url + '/api/v1/versions/notes.txt', { headers: { authorization: `Bearer ${token}` } })).json()) as { versions: Array<{ size: number }> };
    expect(versions.versions.map((v) => v.size).sort()).toEqual([11, 20]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('the restore notice goes when the person does something else: opens a dialog, downloads', async () => {
    await put(t, token, '/memo.txt', 'one');
    await put(t, token, '/memo.txt', 'two, longer');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'vera', 'vera-password-1');
    const notice = page.locator('p.notice');
    const restoreMemo = async () => {
      await page.getByRole('checkbox', { name: 'Select memo.txt' }).check();
      await page.getByRole('button', { name: 'Versions' }).click();
      await page.getByRole('dialog', { name: 'Versions of memo.txt' }).getByRole('button', { name: /^Restore the version replaced/ }).first().click();
      await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
      await expect.poll(() => notice.count()).toBe(1);
      expect(await notice.innerText()).toMatch(/^Restored memo\.txt as it was before/);
    };
    await restoreMemo();
    // It stayed until the next selection: a dialog opened (New folder) is an action of its own.
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByRole('dialog').waitFor();
    expect(await notice.count()).toBe(0);
    await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => page.getByRole('dialog').count()).toBe(0);
    expect(await notice.count()).toBe(0);
    // So is a download.
    await restoreMemo();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download', exact: true }).click()]);
    expect(download.suggestedFilename()).toBe('memo.txt');
    await expect.poll(() => notice.count()).toBe(0);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('deletes into the trash, and the trash page restores in place, elsewhere, a whole folder, and empties', async () => {
    await put(t, token, '/keep/a.txt', 'alpha');
    await put(t, token, '/old/one.txt', 'one');
    await put(t, token, '/old/two.txt', 'two');
    await put(t, token, '/gone.txt', 'gone for good');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'vera', 'vera-password-1');
    await page.getByRole('link', { name: 'keep', exact: true }).click();
    await deleteInUi(page, 'a.txt', /Delete a\.txt\? Files go to the trash for 7 days\./);
    await page.getByRole('link', { name: 'My files' }).click();
    await deleteInUi(page, 'old', /Delete old and everything in it\? Files go to the trash for 7 days\./);
    await deleteInUi(page, 'gone.txt', /trash for 7 days/);
    expect(await content('/keep/a.txt')).toBe(404);

    await page.getByRole('link', { name: 'Trash' }).click();
    await page.getByRole('heading', { name: 'Trash' }).waitFor();
    await page.getByText('Deleted files stay here for 7 days').waitFor();
    await page.getByRole('button', { name: 'Restore /keep/a.txt', exact: true }).waitFor();
    await expectAccessible(page, 'trash page');
    await screenshot(page, 'trash');
    await page.getByRole('button', { name: 'Restore /keep/a.txt', exact: true }).click();
    await page.getByRole('status').getByText('Restored /keep/a.txt.').waitFor();
    expect(await content('/keep/a.txt')).toBe('alpha');

    await page.getByRole('button', { name: 'Restore all 2 deleted together' }).click();
    await page.getByRole('status').getByText('Restored 2 files.').waitFor();
    expect(await content('/old/one.txt')).toBe('one');
    expect(await content('/old/two.txt')).toBe('two');

    // A restore over a file that is there again is refused with the server's reason; another place works.
    await put(t, token, '/gone.txt', 'a new file');
    await page.getByRole('button', { name: 'Restore /gone.txt', exact: true }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/exists/);
    await page.getByRole('button', { name: 'Restore /gone.txt to another place' }).click();
    const to = page.getByRole('dialog', { name: 'Restore gone.txt to' });
    await to.getByLabel('Path').fill('/restored/gone.txt');
    await to.getByRole('button', { name: 'Restore' }).click();
    await page.getByRole('status').getByText('Restored /restored/gone.txt.').waitFor();
    expect(await content('/restored/gone.txt')).toBe('gone for good');
    expect(await content('/gone.txt')).toBe('a new file');
    expect(await trash()).toEqual([]);

    // Emptying: what is in the trash is gone for good.
    await put(t, token, '/tmp.txt', 'temporary');
    await fetch(t.url + filesPath('/tmp.txt'), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    await page.reload();
    await page.getByRole('button', { name: 'Restore /tmp.txt', exact: true }).waitFor();
    await page.getByRole('button', { name: 'Empty trash' }).click();
    await page.getByRole('dialog').getByText('Delete the file in the trash for good? This cannot be undone.').waitFor();
    await page.getByRole('dialog').getByRole('button', { name: 'Empty trash' }).click();
    await page.getByText('The trash is empty.').waitFor();
    expect(await trash()).toEqual([]);
    expect(await content('/tmp.txt')).toBe(404);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a file deleted from a vault shows no encrypted name; once the vault is unlocked in the tab, its plain name; restored in place', async () => {
    const dir = await tempDir('ferry-web-trash-vault-');
    try {
      writeFileSync(join(dir.path, 'pass'), 'a passphrase for the trash test\n');
      writeFileSync(join(dir.path, 'letter.txt'), 'dear diary');
      const env = { FERRY_SERVER: t.url, FERRY_TOKEN: token, FERRY_CONFIG: join(dir.path, 'config.json'), HOME: dir.path };
      const ferry = (args: string[]) => runFerry([...args, '--passphrase-file', join(dir.path, 'pass')], { env });
      expect((await ferry(['mkdir', '--e2e', '/diary'])).code).toBe(0);
      const put = await ferry(['put', join(dir.path, 'letter.txt'), '/diary/secret-letter.txt']);
      expect(put.code, put.stderr).toBe(0);
      const listed = (await (await fetch(t.url + '/api/v1/list/diary', { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: Array<{ name: string; path: string }> };
      const stored = listed.entries.find((e) => e.name.endsWith('.fe2e'))!;
      expect(stored, JSON.stringify(listed)).toBeDefined();
      expect((await fetch(t.url + filesPath(stored.path), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(204);

      const { context, page, errors } = await freshContext(browser);
      await signIn(page, t.url, 'vera', 'vera-password-1');
      await page.getByRole('link', { name: 'Trash' }).click();
      await page.getByRole('button', { name: 'Restore /diary/(encrypted name)', exact: true }).waitFor();
      await page.getByText('their names show here once their folder is unlocked', { exact: false }).waitFor();
      expect(await page.locator('main').textContent()).not.toContain(stored.name);
      // Another place would need the names encrypted for it: not offered here.
      expect(await page.getByRole('button', { name: /to another place$/ }).count()).toBe(0);

      // In-app navigation: a reload would forget the key, as it should.
      await page.evaluate(`history.pushState(null, '', '/files/diary'); dispatchEvent(new PopStateEvent('popstate'))`);
      await page.getByLabel('Passphrase').fill('a passphrase for the trash test');
      await page.getByRole('button', { name: 'Unlock' }).click();
      await page.getByText('End-to-end encrypted folder /diary', { exact: false }).waitFor({ timeout: 60_000 });
      await page.getByRole('link', { name: 'Trash' }).click();
      await page.getByRole('button', { name: 'Restore /diary/secret-letter.txt', exact: true }).click();
      await page.getByRole('status').getByText('Restored /diary/secret-letter.txt.').waitFor();
      const got = await ferry(['get', '/diary/secret-letter.txt', join(dir.path, 'back.txt')]);
      expect(got.code, got.stderr).toBe(0);
      expect(readFileSync(join(dir.path, 'back.txt'), 'utf8')).toBe('dear diary');
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await dir.cleanup();
    }
  }, 120_000);

  it('a trash larger than a page shows 500 entries and the rest on demand; emptying then says all files', async () => {
    const big = await startTestServer({ trashDays: 7 });
    try {
      await addUser(big, 'vera', { password: 'vera-password-1' });
      const tok = await login(big, 'vera', 'vera-password-1');
      await put(big, tok, '/first.txt', 'the oldest');
      expect((await fetch(big.url + filesPath('/first.txt'), { method: 'DELETE', headers: { authorization: `Bearer ${tok}` } })).status).toBe(204);
      // 1,200 more rows, copies of that one, through the store (1,201 in all: three pages).
      await big.server.ctx.meta.durable(async (trx) => {
        const row = await trx.selectFrom('trash').selectAll().executeTakeFirstOrThrow();
        const dir = row.path.slice(0, row.path.lastIndexOf('/'));
        const rows = Array.from({ length: 1200 }, (_, i) => ({ batch: `b${i}`, path: `${dir}/bulk/f${i}.txt`, manifest: row.manifest, size: row.size, mtime: row.mtime, mode: row.mode, deleted_at: row.deleted_at, deleted_by: null }));
        for (let i = 0; i < rows.length; i += 400) await trx.insertInto('trash').values(rows.slice(i, i + 400)).execute();
        await trx.updateTable('manifests').set((eb) => ({ refs: eb('refs', '+', 1200) })).where('hash', '=', row.manifest).execute();
      });
      const { context, page, errors } = await freshContext(browser);
      await signIn(page, big.url, 'vera', 'vera-password-1');
      await page.getByRole('link', { name: 'Trash' }).click();
      const rows = page.locator('main table.listing tbody tr');
      await expect.poll(() => rows.count()).toBe(500);
      expect(await page.getByRole('button', { name: 'Restore /first.txt', exact: true }).count()).toBe(0);
      await page.getByRole('button', { name: 'Empty trash' }).click();
      await page.getByRole('dialog').getByText('Delete all files in the trash for good? This cannot be undone.').waitFor();
      await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();
      await page.getByRole('button', { name: 'Show more (500 shown)' }).click();
      await expect.poll(() => rows.count()).toBe(1000);
      await page.getByRole('button', { name: 'Show more (1000 shown)' }).click();
      await expect.poll(() => rows.count()).toBe(1201);
      expect(await page.getByRole('button', { name: /^Show more/ }).count()).toBe(0);
      // The oldest, past the first pages, can be restored.
      await page.getByRole('button', { name: 'Restore /first.txt', exact: true }).click();
      await page.getByRole('status').getByText('Restored /first.txt.').waitFor();
      const r = await fetch(big.url + filesPath('/first.txt'), { headers: { authorization: `Bearer ${tok}` } });
      expect(await r.text()).toBe('the oldest');
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await big.close();
    }
  });

  it('a folder deleted at once whose files go past the page shown: "Restore all deleted together" (no count of the page\'s part) restores every one of them', async () => {
    const big = await startTestServer({ trashDays: 7 });
    try {
      await addUser(big, 'vera', { password: 'vera-password-1' });
      const tok = await login(big, 'vera', 'vera-password-1');
      for (const name of ['a', 'b', 'c']) await put(big, tok, `/album/${name}.jpg`, `photo ${name}`);
      expect((await fetch(big.url + filesPath('/album') + '?recursive=1', { method: 'DELETE', headers: { authorization: `Bearer ${tok}` } })).status).toBe(204);
      // 499 files deleted one by one since, through the store: the first page (500) shows one of the album's three.
      await big.server.ctx.meta.durable(async (trx) => {
        const row = await trx.selectFrom('trash').selectAll().executeTakeFirstOrThrow();
        const home = row.path.slice(0, row.path.indexOf('/album/'));
        const rows = Array.from({ length: 499 }, (_, i) => ({ batch: `single${i}`, path: `${home}/later/f${i}.txt`, manifest: row.manifest, size: row.size, mtime: row.mtime, mode: row.mode, deleted_at: row.deleted_at, deleted_by: null }));
        await trx.insertInto('trash').values(rows).execute();
        await trx.updateTable('manifests').set((eb) => ({ refs: eb('refs', '+', 499) })).where('hash', '=', row.manifest).execute();
      });
      const { context, page, errors } = await freshContext(browser);
      await signIn(page, big.url, 'vera', 'vera-password-1');
      await page.getByRole('link', { name: 'Trash' }).click();
      await expect.poll(() => page.locator('main table.listing tbody tr').count()).toBe(500);
      expect(await page.getByRole('button', { name: /^Restore all \d+ deleted together$/ }).count()).toBe(0);
      await page.getByRole('button', { name: 'Restore all deleted together', exact: true }).click();
      await page.getByRole('status').getByText('Restored 3 files.').waitFor();
      const got = await Promise.all(['a', 'b', 'c'].map(async (n) => (await fetch(big.url + filesPath(`/album/${n}.jpg`), { headers: { authorization: `Bearer ${tok}` } })).text()));
      expect(got).toEqual(['photo a', 'photo b', 'photo c']);
      // Reloaded: all of the album is out of the trash, the 499 others are still in it.
      await expect.poll(() => page.locator('main table.listing tbody tr').count()).toBe(499);
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await big.close();
    }
  });

  it('a delete offers Undo (reached with Tab, said by the live region), which puts a folder and a file back where they were, not an older delete of the same path', async () => {
    // An older delete of the same file is in the trash: Undo takes back this delete only.
    await put(t, token, '/undo/same.txt', 'older');
    expect((await fetch(t.url + filesPath('/undo/same.txt'), { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBeLessThan(300);
    await put(t, token, '/undo/same.txt', 'newer');
    await put(t, token, '/undo/dir/one.txt', 'one');
    await put(t, token, '/undo/dir/two.txt', 'two');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'vera', 'vera-password-1');
    await page.getByRole('link', { name: 'undo', exact: true }).click();
    await page.getByRole('checkbox', { name: 'Select same.txt' }).check();
    await deleteInUi(page, 'dir', /Delete these 2 items/);
    const undo = page.getByRole('button', { name: 'Undo', exact: true });
    await page.locator('p.notice', { hasText: 'Deleted 2 items.' }).waitFor();
    expect(await page.getByRole('status').textContent()).toMatch(/Deleted 2 items\. Undo: the button after this notice, for 10 seconds\./);
    expect(await content('/undo/same.txt')).toBe(404);
    // Keyboard: Tab reaches it from where the focus is after the dialog, Enter takes it.
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate('document.activeElement?.textContent')) === 'Undo';
    }
    expect(reached).toBe(true);
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Restored 2 items.').waitFor();
    expect(await undo.count()).toBe(0);
    expect(await content('/undo/same.txt')).toBe('newer');
    expect(await content('/undo/dir/one.txt')).toBe('one');
    expect(await content('/undo/dir/two.txt')).toBe('two');
    await page.getByRole('link', { name: 'dir', exact: true }).waitFor();
    // The older delete of same.txt is still in the trash; this delete's entries are not.
    expect((await trash()).filter((e) => e.path.endsWith('/undo/same.txt')).length).toBe(1);
    expect((await trash()).some((e) => e.path.includes('/undo/dir/'))).toBe(false);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('Undo goes away by itself after some seconds, and with the next action', async () => {
    await put(t, token, '/later.txt', 'later');
    await put(t, token, '/other.txt', 'other');
    const { context, page, errors } = await freshContext(browser);
    await page.clock.install();
    await signIn(page, t.url, 'vera', 'vera-password-1');
    await deleteInUi(page, 'later.txt', /trash for 7 days/);
    const undo = page.getByRole('button', { name: 'Undo', exact: true });
    await undo.waitFor();
    await page.clock.runFor(11_000);
    await expect.poll(() => undo.count()).toBe(0);
    await page.locator('p.notice', { hasText: 'Deleted later.txt.' }).waitFor();
    // A new delete offers its own; selecting a row (the next action) takes it away.
    await deleteInUi(page, 'other.txt', /trash for 7 days/);
    await undo.waitFor();
    await page.getByRole('checkbox', { name: 'Select undo' }).check();
    await expect.poll(() => undo.count()).toBe(0);
    expect(await content('/later.txt')).toBe(404);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('on a server without a trash, deleting says it is final and the trash page says so', async () => {
    const tok = await login(plain, 'vera', 'vera-password-1');
    await put(plain, tok, '/x.txt', 'x');
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, plain.url, 'vera', 'vera-password-1');
    await deleteInUi(page, 'x.txt', /Delete x\.txt\? This cannot be undone: this server keeps no trash\./);
    // Nothing to take back: no Undo.
    await page.getByRole('link', { name: 'Trash' }).waitFor();
    expect(await page.getByRole('button', { name: 'Undo', exact: true }).count()).toBe(0);
    await page.getByRole('link', { name: 'Trash' }).click();
    await page.getByText('This server does not keep deleted files: deleting is final.', { exact: false }).waitFor();
    await page.getByText('The trash is empty.').waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it("the admin's Empty trash says whose trash goes too (their entries are listed with the admin's), and empties it", async () => {
    const own = await startTestServer({ trashDays: 7 });
    try {
      await addUser(own, 'vera', { password: 'vera-password-1' });
      // An admin whose root is the server's: their trash listing shows what everyone deleted.
      await addUser(own, 'boss', { password: 'boss-password-1', role: 'admin', home: '/' });
      const vera = await login(own, 'vera', 'vera-password-1');
      const boss = await login(own, 'boss', 'boss-password-1');
      for (const [tok, path] of [[vera, '/hers.txt'], [boss, '/his.txt']] as const) {
        await put(own, tok, path, 'deleted');
        expect((await fetch(own.url + filesPath(path), { method: 'DELETE', headers: { authorization: `Bearer ${tok}` } })).status).toBe(204);
      }
      const { context, page, errors } = await freshContext(browser);
      await signIn(page, own.url, 'boss', 'boss-password-1');
      // The page asks who the caller is once (its days, and whether others' trash goes too): it asked twice.
      const asked: string[] = [];
      page.on('request', (r) => void (new URL(r.url()).pathname === '/api/v1/me' && asked.push(r.url())));
      await page.getByRole('link', { name: 'Trash' }).click();
      await page.getByRole('button', { name: 'Restore /users/vera/hers.txt', exact: true }).waitFor();
      await page.getByRole('button', { name: 'Empty trash' }).click();
      const dialog = page.getByRole('dialog');
      await expect
        .poll(() => dialog.textContent())
        .toContain('Delete the 2 files in the trash for good? As the admin, this empties the trash of 1 other user (vera) too: what they deleted is listed here with yours. This cannot be undone.');
      await page.getByText('Deleted files stay here for 7 days').waitFor();
      expect(asked).toHaveLength(1);
      await dialog.getByRole('button', { name: 'Empty trash' }).click();
      await page.getByText('The trash is empty.').waitFor();
      await page.getByRole('status').getByText('Deleted 2 files for good.').waitFor();
      const left = await fetch(own.url + '/api/v1/trash', { headers: { authorization: `Bearer ${vera}` } });
      expect(((await left.json()) as { entries: unknown[] }).entries).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await own.close();
    }
  });
});
