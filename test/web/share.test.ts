/**
 * Share links opened by someone without an account, in a fresh browser context (no
 * session, no cookies): a file page (preview, download), a folder page (per-file and zip
 * downloads), a password form (wrong, then right, while `curl -u :PASSWORD` keeps working),
 * a drop box (the app's chunked upload, into the owner's folder), and the 410 pages of
 * used-up and expired links.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
import { expectAccessible, freshContext, launch, screenshot, signIn } from './browser.js';
import { formatDate } from '../../web/src/format.js';

const run = promisify(execFile);
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let t: TestServer;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };
let token: string;
let clock = Date.now();

async function put(path: string, body: Uint8Array | string): Promise<void> {
  const r = await fetch(`${t.url}/api/v1/files${path}`, { method: 'PUT', body, headers: { authorization: `Bearer ${token}` } });
  expect(r.status, path).toBe(201);
}

beforeAll(async () => {
  t = await startTestServer({ now: () => clock });
  dir = await tempDir('ferry-web-share-');
  await addUser(t, 'olga', { password: 'olga-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'olga', password: 'olga-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  await put('/report.txt', 'the quarterly report\n');
  await put('/photos/a.bin', randomBytes(200_000));
  await put('/photos/b.bin', randomBytes(300_000));
  await put('/photos/more/c.bin', randomBytes(5000));
  const mk = await fetch(`${t.url}/api/v1/mkdir/inbox`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  expect(mk.status).toBe(201);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('share pages', () => {
  it('a file link is a page with the file\'s name, size, preview and a download button', async () => {
    const s = await share(t, token, { path: '/report.txt' });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'report.txt' }).waitFor();
    await page.getByText('21 B').waitFor();
    await expect.poll(() => page.getByLabel('Text of report.txt').textContent()).toBe('the quarterly report\n');
    await expectAccessible(page, 'file share page');
    await screenshot(page, 'share-file');
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    expect(download.suggestedFilename()).toBe('report.txt');
    const saved = join(dir.path, 'report.txt');
    await download.saveAs(saved);
    expect(readFileSync(saved, 'utf8')).toBe('the quarterly report\n');
    // curl still gets the bytes at the same address.
    expect(await (await fetch(s.url)).text()).toBe('the quarterly report\n');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a folder link lists its files, each downloadable, sub-folders browsable, and all of it as one zip', async () => {
    const s = await share(t, token, { path: '/photos' });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'photos' }).waitFor();
    await page.getByRole('link', { name: 'Download a.bin' }).waitFor();
    await expectAccessible(page, 'folder share page');
    await screenshot(page, 'share-folder');
    const [one] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download b.bin' }).click()]);
    const b = join(dir.path, 'b.bin');
    await one.saveAs(b);
    const server = async (p: string) => Buffer.from(await (await fetch(`${t.url}/api/v1/files${p}`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    expect(sha(readFileSync(b))).toBe(sha(await server('/photos/b.bin')));

    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download all (zip)' }).click()]);
    expect(zip.suggestedFilename()).toBe('photos.zip');
    const zipPath = join(dir.path, 'photos.zip');
    await zip.saveAs(zipPath);
    const out = join(dir.path, 'photos-unzipped');
    mkdirSync(out);
    execFileSync('unzip', ['-q', zipPath, '-d', out]);
    for (const p of ['a.bin', 'b.bin', 'more/c.bin']) expect(sha(readFileSync(join(out, 'photos', p))), p).toBe(sha(await server(`/photos/${p}`)));

    await page.getByRole('link', { name: 'more/' }).click();
    await page.getByRole('link', { name: 'Download c.bin' }).waitFor();
    await page.getByRole('link', { name: 'Up one folder' }).click();
    await page.getByRole('link', { name: 'Download a.bin' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a password link shows a form, not the browser\'s dialog: wrong, then right; curl -u :PASSWORD keeps working', async () => {
    const s = await share(t, token, { path: '/report.txt', password: 'open sesame' });
    const { context, page, errors } = await freshContext(browser);
    let dialogs = 0;
    page.on('dialog', () => dialogs++);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'This link is protected by a password' }).waitFor();
    await expectAccessible(page, 'password page');
    await page.getByRole('textbox', { name: 'Password' }).fill('guess');
    await page.getByRole('button', { name: 'Open' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong password for this link.');
    await page.getByRole('textbox', { name: 'Password' }).fill('open sesame');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('heading', { name: 'report.txt' }).waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    await download.saveAs(join(dir.path, 'pw.txt'));
    expect(readFileSync(join(dir.path, 'pw.txt'), 'utf8')).toBe('the quarterly report\n');
    // The unlock is a cookie for this link only, which scripts cannot read.
    const cookie = (await context.cookies()).find((c) => c.name === 'ferry_share');
    expect(cookie?.httpOnly).toBe(true);
    expect(cookie?.path).toBe(new URL(s.url).pathname);
    expect(dialogs).toBe(0);

    // (curl runs asynchronously: the server is in this process.)
    const curl = async (args: string[]) => (await run('curl', ['-s', ...args, s.url], { encoding: 'utf8' })).stdout;
    expect(await curl(['-o', '/dev/null', '-w', '%{http_code}'])).toBe('401');
    expect(await curl(['-o', '/dev/null', '-w', '%{http_code}', '-u', ':wrong'])).toBe('401');
    expect(await curl(['-u', ':open sesame'])).toBe('the quarterly report\n');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a drop box page takes files with the app\'s chunked upload into the owner\'s folder, and never replaces one', async () => {
    const s = await share(t, token, { path: '/inbox', kind: 'upload', password: 'drop it here', maxUses: 2 });
    const file = join(dir.path, 'scan.pdf');
    await writeRandomFile(file, 6 * 1024 * 1024);
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('textbox', { name: 'Password' }).fill('drop it here');
    await page.getByRole('button', { name: 'Open' }).click();
    await page.getByRole('heading', { name: 'Send files: inbox' }).waitFor();
    await expectAccessible(page, 'drop box page');
    await page.getByTestId('drop-files').setInputFiles(file);
    await page.locator('li.upload[data-state=done]').waitFor({ timeout: 60_000 });
    await screenshot(page, 'share-dropbox');
    const stored = Buffer.from(await (await fetch(`${t.url}/api/v1/files/inbox/scan.pdf`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    expect(sha(stored)).toBe(sha(readFileSync(file)));
    const manifest = (await (await fetch(`${t.url}/api/v1/manifests/inbox/scan.pdf`, { headers: { authorization: `Bearer ${token}` } })).json()) as { chunks: unknown[] };
    expect(manifest.chunks.length).toBeGreaterThan(1); // chunked by the browser, not one streamed body

    // The same name again: the drop box replaces nothing and says nothing of the name being
    // taken (a visitor could probe names so): the file is kept beside, the owner's intact.
    const again = join(dir.path, 'again');
    mkdirSync(again);
    writeFileSync(join(again, 'scan.pdf'), 'a different file');
    await page.getByTestId('drop-files').setInputFiles(join(again, 'scan.pdf'));
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(2);
    expect(await page.locator('li.upload[data-state=failed]').count()).toBe(0);
    const after = Buffer.from(await (await fetch(`${t.url}/api/v1/files/inbox/scan.pdf`, { headers: { authorization: `Bearer ${token}` } })).arrayBuffer());
    expect(sha(after)).toBe(sha(readFileSync(file)));
    const beside = await fetch(`${t.url}/api/v1/files/inbox/${encodeURIComponent('scan (1).pdf')}`, { headers: { authorization: `Bearer ${token}` } });
    expect(await beside.text()).toBe('a different file');
    const info = (await (await fetch(`${t.url}/api/v1/shares`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; uses: number }[];
    expect(info.find((x) => x.id === s.id)?.uses).toBe(2);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a drop box takes many small files in a few upload sessions, each file one use of the link; past its uses, each file gets its own answer', async () => {
    const many = join(dir.path, 'many');
    mkdirSync(many, { recursive: true });
    const names = Array.from({ length: 40 }, (_, i) => `note-${String(i).padStart(2, '0')}.txt`);
    for (const name of names) writeFileSync(join(many, name), `the visitor's ${name}\n`.repeat(50));
    const uses = async (id: string) => ((await (await fetch(`${t.url}/api/v1/shares`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; uses: number }[]).find((x) => x.id === id)?.uses;
    const mkdir = async (path: string) => expect((await fetch(`${t.url}/api/v1/mkdir${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(201);

    await mkdir('/batched');
    const s = await share(t, token, { path: '/batched', kind: 'upload' });
    const { context, page, errors } = await freshContext(browser);
    let sessions = 0;
    page.on('request', (r) => void (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/uploads' && sessions++));
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'Send files: batched' }).waitFor();
    await page.getByTestId('drop-files').setInputFiles(names.map((n) => join(many, n)));
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(40);
    expect(sessions, 'upload sessions for 40 small files').toBeLessThan(4);
    for (const name of [names[0], names[39]]) {
      const r = await fetch(`${t.url}/api/v1/files/batched/${name}`, { headers: { authorization: `Bearer ${token}` } });
      expect(await r.text()).toBe(`the visitor's ${name}\n`.repeat(50));
    }
    expect(await uses(s.id)).toBe(40);

    // More files chosen than the link has uses left: said before anything is sent.
    await mkdir('/three');
    const three = await share(t, token, { path: '/three', kind: 'upload', maxUses: 5 });
    const early = await share(t, token, { path: '/batched', kind: 'upload', maxUses: 3 });
    sessions = 0;
    await page.goto(early.url);
    await page.getByTestId('drop-limits').getByText('3 of 3 uses left').waitFor();
    await page.getByTestId('drop-files').setInputFiles(names.slice(0, 5).map((n) => join(many, n)));
    await page.getByRole('alert').getByText('This link takes 3 more files and you chose 5: choose at most 3.').waitFor();
    expect(await page.locator('li.upload').count()).toBe(0);
    expect(sessions).toBe(0);
    expect(await uses(early.id)).toBe(0);

    // A link the page says has 5 uses left, 2 of them taken meanwhile by another visitor, and 5
    // files dropped: the batch is refused whole (410), then each file goes alone: 3 are
    // received, 2 are told the link takes no more.
    await page.goto(three.url);
    await page.getByTestId('drop-limits').getByText('5 of 5 uses left').waitFor();
    const other = await freshContext(browser);
    await other.page.goto(three.url);
    await other.page.getByTestId('drop-files').setInputFiles(names.slice(38, 40).map((n) => join(many, n)));
    await expect.poll(() => other.page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(2);
    await other.context.close();
    sessions = 0;
    await page.getByTestId('drop-files').setInputFiles(names.slice(0, 5).map((n) => join(many, n)));
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(3);
    await expect.poll(() => page.locator('li.upload[data-state=failed]').count(), { timeout: 60_000 }).toBe(2);
    for (const row of await page.locator('li.upload[data-state=failed]').all()) expect(await row.innerText()).toMatch(/This link takes no more files/);
    expect(await uses(three.id)).toBe(5);
    expect(sessions, 'the batch, then each file alone').toBeGreaterThan(5);
    const listed = (await (await fetch(`${t.url}/api/v1/list/three`, { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: { name: string }[] };
    expect(listed.entries.length).toBe(5);
    expect(errors).toEqual([]);
    await context.close();
  });

  it("a drop box's refusals name the visitor's file, never the owner's folders, quota or usage", async () => {
    await addUser(t, 'quentin', { password: 'quentin-password-1', quotaBytes: 1_000_000 });
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'quentin', password: 'quentin-password-1' }) });
    const qt = ((await login.json()) as { token: string }).token;
    const putAs = await fetch(`${t.url}/api/v1/files/clients/acme-merger/taken.txt`, { method: 'PUT', body: 'the owner\'s', headers: { authorization: `Bearer ${qt}` } });
    expect(putAs.status).toBe(201);
    const s = await share(t, qt, { path: '/clients/acme-merger', kind: 'upload', name: 'Inbox' });
    const taken = join(dir.path, 'visitor', 'taken.txt');
    const big = join(dir.path, 'visitor', 'big.bin');
    mkdirSync(join(dir.path, 'visitor'), { recursive: true });
    writeFileSync(taken, 'the visitor\'s');
    await writeRandomFile(big, 2_000_000);
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'Send files: Inbox' }).waitFor();
    await page.getByTestId('drop-files').setInputFiles([taken, big]);
    // The taken name is not refused (nor said to be taken): kept beside (drop-box-names.test.ts).
    await expect.poll(() => page.locator('li.upload[data-state=failed]').count(), { timeout: 60_000 }).toBe(1);
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(1);
    const shown = await page.locator('main').textContent();
    expect(shown).not.toMatch(/exists/);
    expect(shown).toMatch(/does not fit in the space the link.s owner has left/);
    expect(shown).not.toMatch(/acme|clients|quentin|quota of|used now|976/i);
    // The file input is emptied after each pick: a browser fires no change for the same file
    // picked again (after a refusal, with room made), and the page would do nothing.
    expect(await page.getByTestId('drop-files').inputValue()).toBe('');
    // The same through curl's route (PUT /s/KEY/NAME): no folder, no figures of the owner.
    const r = await fetch(`${s.url}/big.bin`, { method: 'PUT', body: readFileSync(big) });
    expect(r.status).toBe(413);
    const body = (await r.json()) as { error: { code: string; message: string; details?: unknown } };
    expect(body.error.code).toBe('FERRY_ERR_QUOTA_EXCEEDED');
    expect(body.error.message).not.toMatch(/acme|clients|quentin|quota of|used now/i);
    expect(body.error.details).toEqual({ limit: 'bytes' }); // which limit, none of its figures
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a drop box offers Retry only where sending again can help (too many uploads at once), and otherwise says what to do: byte cap, name refused, link expired', async () => {
    await addUser(t, 'ria', { password: 'ria-password-1', maxSessions: 1 });
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'ria', password: 'ria-password-1' }) });
    const rt = ((await login.json()) as { token: string }).token;
    expect((await fetch(`${t.url}/api/v1/mkdir/drop`, { method: 'POST', headers: { authorization: `Bearer ${rt}` } })).status).toBe(201);
    const s = await share(t, rt, { path: '/drop', kind: 'upload', maxBytes: 20 * 1024 * 1024, expiresInSeconds: 3600 });
    const files = join(dir.path, 'retry');
    mkdirSync(files, { recursive: true });
    for (const name of ['one.bin', 'two.bin']) await writeRandomFile(join(files, name), 4 * 1024 * 1024);
    await writeRandomFile(join(files, 'huge.bin'), 24 * 1024 * 1024);
    writeFileSync(join(files, '.ferry-e2e'), 'not a marker');
    writeFileSync(join(files, 'late.txt'), 'after the link expired');
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'Send files: drop' }).waitFor();
    const row = (name: string) => page.locator('li.upload').filter({ hasText: `/${name}` });
    const retry = (name: string) => page.getByRole('button', { name: `Retry ${name}` });

    // The owner allows one upload at a time through their links: of two files sent at once,
    // one is refused while the other's chunks are held here. Later, Retry sends it.
    let release = () => {};
    const released = new Promise<void>((r) => (release = r));
    await page.route(/\/api\/v1\/uploads\/[^/]+\/(chunks\/[0-9a-f]{64}|chunk-frames)$/, async (route) => {
      await released;
      await route.continue();
    });
    await page.getByTestId('drop-files').setInputFiles([join(files, 'one.bin'), join(files, 'two.bin')]);
    const failed = page.locator('li.upload[data-state=failed]');
    await failed.waitFor({ timeout: 60_000 });
    expect(await failed.innerText()).toMatch(/try again later/);
    const refused = (await failed.getAttribute('aria-label'))!.includes('one.bin') ? 'one.bin' : 'two.bin';
    release(); // the held requests, and all after them, go on
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(1);
    await retry(refused).click();
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(2);

    // Past the link's byte cap, and a name an upload link never takes: no Retry, what to do instead.
    await page.getByTestId('drop-files').setInputFiles([join(files, 'huge.bin'), join(files, '.ferry-e2e')]);
    await expect.poll(() => failed.count(), { timeout: 60_000 }).toBe(2);
    expect(await row('huge.bin').innerText()).toMatch(/ask the link's owner for room, or send a smaller file/);
    expect(await row('.ferry-e2e').innerText()).toMatch(/rename the file, then choose it again/);
    for (const name of ['huge.bin', '.ferry-e2e']) {
      expect(await row(name).innerText()).toMatch(/Sending it again will not help/);
      expect(await retry(name).count()).toBe(0);
      expect(await page.getByRole('button', { name: `Cancel ${name}` }).count()).toBe(1);
    }

    // The link expires while its page is open.
    clock += 3601_000;
    await page.getByTestId('drop-files').setInputFiles(join(files, 'late.txt'));
    await expect.poll(() => failed.count(), { timeout: 60_000 }).toBe(3);
    expect(await row('late.txt').innerText()).toMatch(/This link has expired\. This link takes no more files: ask whoever sent it to you for a new one\./);
    expect(await retry('late.txt').count()).toBe(0);
    // Coming back online retries what may go through, not these: a retried one is queued or
    // running at once (its request cannot have answered before the page's next task).
    const stillFailed = `(async () => {
      dispatchEvent(new Event('online'));
      await new Promise((r) => setTimeout(r, 0));
      return document.querySelectorAll('li.upload[data-state=failed]').length;
    })()`;
    expect(await page.evaluate(stillFailed)).toBe(3);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a drop box with a byte cap shows what is left of it, and again after each file', async () => {
    const s = await share(t, token, { path: '/inbox', kind: 'upload', maxBytes: 3_000_000 });
    const first = join(dir.path, 'capped-1.bin');
    const second = join(dir.path, 'capped-2.bin');
    await writeRandomFile(first, 1_000_000);
    await writeRandomFile(second, 500_000);
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'Send files: inbox' }).waitFor();
    const limits = page.getByTestId('drop-limits');
    // Made with the session's login token, the link expires with it, and the page says when.
    expect(s.expiresAt).not.toBeNull();
    const left = (what: string) => new RegExp(`^expires \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d · ${what.replace(/\./g, '\\.')} left of 2\\.9 MiB$`);
    await expect.poll(() => limits.textContent()).toMatch(left('2.9 MiB'));
    await page.getByTestId('drop-files').setInputFiles(first);
    await page.locator('li.upload[data-state=done]').waitFor({ timeout: 60_000 });
    await expect.poll(() => limits.textContent()).toMatch(left('1.9 MiB'));
    await page.getByTestId('drop-files').setInputFiles(second);
    await expect.poll(() => page.locator('li.upload[data-state=done]').count(), { timeout: 60_000 }).toBe(2);
    await expect.poll(() => limits.textContent()).toMatch(left('1.4 MiB'));
    // What the owner's listing says the link received.
    const info = (await (await fetch(`${t.url}/api/v1/shares`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; bytesReceived: number }[];
    expect(info.find((x) => x.id === s.id)?.bytesReceived).toBe(1_500_000);
    // Another visitor fills it meanwhile: the file this page sends next is refused, and the
    // page reads what is left again (it showed 1.4 MiB, from before the other visitor).
    const theirs = join(dir.path, 'capped-theirs.bin');
    const third = join(dir.path, 'capped-3.bin');
    await writeRandomFile(theirs, 1_200_000);
    await writeRandomFile(third, 1_000_000);
    const other = await freshContext(browser);
    await other.page.goto(s.url);
    await other.page.getByTestId('drop-files').setInputFiles(theirs);
    await other.page.locator('li.upload[data-state=done]').waitFor({ timeout: 60_000 });
    await other.context.close();
    expect(await limits.textContent()).toMatch(left('1.4 MiB'));
    await page.getByTestId('drop-files').setInputFiles(third);
    await page.locator('li.upload[data-state=failed]').waitFor({ timeout: 60_000 });
    await expect.poll(() => limits.textContent()).toMatch(left('293 KiB'));
    await expectAccessible(page, 'capped drop box page');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a folder link with a download limit shows what is left after each download, and that it is used up after the last', async () => {
    const s = await share(t, token, { path: '/photos', maxUses: 2 });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'photos' }).waitFor();
    await page.getByText('2 of 2 uses left', { exact: false }).waitFor();
    for (const [name, left] of [['a.bin', '1 of 2 uses left'], ['b.bin', undefined]] as const) {
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: `Download ${name}` }).click()]);
      expect(await download.failure()).toBeNull();
      // Without reloading: the page follows the link's count, then says it no longer works.
      if (left) await page.getByText(left, { exact: false }).waitFor();
      else await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
    }
    expect(errors).toEqual([]);
    await context.close();
  });

  it("the download that uses a link up is not shown as an error: the visitor is told they have the file, and how to get it again", async () => {
    const s = await share(t, token, { path: '/report.txt', maxUses: 1 });
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await page.goto(s.url);
    await page.getByText('1 use left', { exact: false }).waitFor();
    expect(await page.getByText('1 of 1 uses left', { exact: false }).count()).toBe(0);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Download' }).click()]);
    expect(await download.failure()).toBeNull();
    await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
    await expect
      .poll(() => page.getByRole('status').textContent())
      .toBe("Your download was the last this link allowed: the file is in your browser's downloads. To get it again, ask the person who sent the link for a new one.");
    expect(await page.getByRole('alert').count()).toBe(0);
    // Opened again (or by someone else), the used-up link is the refusal it is.
    await page.reload();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/used up/);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a used-up, an expired and a revoked link show the 410 page, the reason as a sentence', async () => {
    const once = await share(t, token, { path: '/report.txt', maxUses: 1 });
    expect(await (await fetch(once.url)).text()).toBe('the quarterly report\n');
    const later = await share(t, token, { path: '/report.txt', expiresInSeconds: 60 });
    clock += 61_000;
    const revoked = await share(t, token, { path: '/report.txt' });
    expect((await fetch(`${t.url}/api/v1/shares/${revoked.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } })).status).toBe(204);
    const { context, page, errors } = await freshContext(browser);
    for (const [url, why] of [
      [once.url, 'This link has been used up.'],
      [later.url, 'This link has expired.'],
      [revoked.url, 'This link was revoked.'],
    ] as const) {
      const res = await page.goto(url);
      expect(res?.status()).toBe(410);
      await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
      await expect.poll(() => page.getByRole('alert').textContent()).toBe(why);
    }
    await expectAccessible(page, '410 page');
    await screenshot(page, 'share-gone');
    // A link whose file was deleted: it was "No such link" and "/: not in this share".
    await put('/old-minutes.txt', 'minutes');
    const orphan = await share(t, token, { path: '/old-minutes.txt' });
    const rm = await fetch(`${t.url}/api/v1/files/old-minutes.txt`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect(rm.status).toBe(204);
    // The page itself is served (200); its own JSON request is the one answered 410.
    expect((await page.goto(orphan.url))?.status()).toBe(200);
    await page.getByRole('heading', { name: 'This link no longer works' }).waitFor();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('The file this link shares is no longer there (deleted or moved).');
    await page.getByText('Ask the person who sent it for a new one.').waitFor();
    const res = await page.goto(`${t.url}/s/${'x'.repeat(43)}`);
    expect(res?.status()).toBe(404);
    await page.getByRole('heading', { name: 'No such link' }).waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('dropping on a drop box page', () => {
  const dropOn = (selector: string, name: string) => `(() => {
    const dt = new DataTransfer();
    dt.items.add(new File(['dropped on ${selector}'], ${JSON.stringify(name)}, { type: 'text/plain' }));
    const target = document.querySelector(${JSON.stringify(selector)});
    const over = new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: dt });
    target.dispatchEvent(over);
    const effect = dt.dropEffect;
    const drop = new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt });
    target.dispatchEvent(drop);
    return { over: over.defaultPrevented, drop: drop.defaultPrevented, effect };
  })()`;

  it('the zone takes the files; a drop beside it is refused, never opened by the browser in place of the page', async () => {
    const mk = await fetch(`${t.url}/api/v1/mkdir/dropped-in`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(mk.status).toBe(201);
    const s = await share(t, token, { path: '/dropped-in', kind: 'upload' });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'Send files: dropped-in' }).waitFor();
    expect(await page.evaluate(dropOn('h1', 'beside.txt'))).toEqual({ over: true, drop: true, effect: 'none' });
    expect(await page.evaluate(dropOn('.dropzone', 'in-zone.txt'))).toMatchObject({ over: true, drop: true });
    await page.locator('li.upload[data-state=done]').waitFor();
    const listing = (await (await fetch(`${t.url}/api/v1/list/dropped-in`, { headers: { authorization: `Bearer ${token}` } })).json()) as { entries: { name: string }[] };
    expect(listing.entries.map((e) => e.name)).toEqual(['in-zone.txt']);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('an empty folder link', () => {
  it('says the folder is empty and offers no zip (an empty archive would spend one of its downloads)', async () => {
    const mk = await fetch(`${t.url}/api/v1/mkdir/nothing-yet`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(mk.status).toBe(201);
    const s = await share(t, token, { path: '/nothing-yet', maxUses: 1 });
    const { context, page, errors } = await freshContext(browser);
    await page.goto(s.url);
    await page.getByRole('heading', { name: 'nothing-yet' }).waitFor();
    await page.getByText('This folder is empty.').waitFor();
    expect(await page.getByRole('link', { name: 'Download all (zip)' }).count()).toBe(0);
    expect(await page.getByRole('table').count()).toBe(0);
    // Still one use left: a reload shows the folder again, not the used-up page.
    await page.reload();
    await page.getByText('This folder is empty.').waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe("the owner's Share links page", () => {
  it('a link to a file with a 230-character name stays in the window: its name and path wrap, its Revoke button is on screen and works', async () => {
    const name = `quarterly-${'x'.repeat(216)}.txt`;
    await put(`/long/${name}`, 'long name');
    await share(t, token, { path: `/long/${name}` });
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'olga', 'olga-password-1');
    await page.getByRole('link', { name: 'Share links' }).click();
    const revoke = page.getByRole('button', { name: new RegExp(`^Revoke link quarterly-x+\\.txt`) });
    await revoke.waitFor();
    const table = await page.locator('.scroll-x').evaluate((e) => ({ scroll: e.scrollWidth, client: e.clientWidth }));
    expect(table.scroll, 'the table is no wider than its box').toBeLessThanOrEqual(table.client);
    const box = await revoke.boundingBox();
    expect(box!.x + box!.width, 'Revoke is inside the 1280-pixel window').toBeLessThanOrEqual(1280);
    // Made with an API token: the Made with column names it (revoking it would revoke the link).
    const made = await page.getByRole('row', { name: /quarterly-x+\.txt/ }).locator('td').nth(7).textContent();
    expect(made).toMatch(/^token .+ \([0-9a-f]{16}\)$/);
    await revoke.click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke' }).click();
    await expect.poll(() => page.getByRole('row', { name: /quarterly-x+\.txt/ }).textContent()).toContain('revoked');
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the Share dialog on a phone', () => {
  it("the kinds of a folder's link are read whole in the 390-pixel window (the drop box's was cut: 'people send files into the f')", async () => {
    await put('/phone-share/a.txt', 'a');
    const { context, page, errors } = await freshContext(browser, { width: 390, height: 844 });
    await signIn(page, t.url, 'olga', 'olga-password-1');
    await page.getByLabel('Select phone-share', { exact: true }).check();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const kind = page.getByRole('dialog').getByLabel('Kind of link');
    await kind.waitFor();
    // Each option's text, measured in the select's font, against the room inside its box
    // less its arrow (24 px kept for it): a native select cuts what does not fit.
    const widths = (await kind.evaluate(`(s => {
      const cs = getComputedStyle(s);
      const ctx = document.createElement('canvas').getContext('2d');
      ctx.font = cs.font;
      const room = s.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight) - 24;
      return [...s.options].map((o) => ({ text: o.text, width: Math.ceil(ctx.measureText(o.text).width), room }));
    })(document.querySelector('dialog[open] select'))`)) as Array<{ text: string; width: number; room: number }>;
    for (const w of widths) expect(w.width, `${w.text}: ${w.width} px in ${w.room}`).toBeLessThanOrEqual(w.room);
    expect(widths.map((w) => w.text)).toEqual(['Download: people get its files', 'Drop box: people send files in']);
    await kind.selectOption('upload');
    await page.getByLabel('Files accepted at most (optional)').waitFor();
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('making a link with a password', () => {
  it('the form says a password needs 8 characters and holds back a shorter one (the server refused it after the click); 8 make the link', async () => {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'olga', 'olga-password-1');
    let asked = 0;
    page.on('request', (r) => {
      if (r.method() === 'POST' && new URL(r.url()).pathname === '/api/v1/shares') asked++;
    });
    await page.getByRole('checkbox', { name: 'Select report.txt' }).check();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Share report.txt' });
    const field = dialog.getByLabel('Password (optional, 8 characters or more)');
    await field.fill('short');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    expect(await field.evaluate((el) => (el as unknown as { validity: { tooShort: boolean } }).validity.tooShort)).toBe(true);
    expect(asked).toBe(0);
    await field.fill('longer12');
    await dialog.getByRole('button', { name: 'Create link' }).click();
    const link = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    expect(asked).toBe(1);
    expect((await fetch(link, { headers: { authorization: `Basic ${Buffer.from(':longer12').toString('base64')}` } })).status).toBe(200);
    expect(errors).toEqual([]);
    await context.close();
  });
});

describe('the "Link created" dialog', () => {
  /** Makes a link from the Share dialog with `fill` done to its form; the dialog's lines under the link, and the link's expiry the server keeps. */
  async function made(name: string, fill: (dialog: Locator) => Promise<void>): Promise<{ terms: string[]; expiresAt: number | null }> {
    const { context, page, errors } = await freshContext(browser);
    await signIn(page, t.url, 'olga', 'olga-password-1');
    await page.getByRole('checkbox', { name: `Select ${name}` }).check();
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const form = page.getByRole('dialog', { name: `Share ${name}` });
    await fill(form);
    // The new link's expiry as the server keeps it, from its list (the answer's body, read through
    // the browser, was sometimes no longer there once the page had moved on).
    const listed = async () => (await (await fetch(`${t.url}/api/v1/shares`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: string; expiresAt?: number | null }[];
    const before = new Set((await listed()).map((s) => s.id));
    await form.getByRole('button', { name: 'Create link' }).click();
    const dialog = page.getByRole('dialog', { name: 'Link created' });
    await dialog.waitFor();
    const created = (await listed()).filter((s) => !before.has(s.id));
    expect(created).toHaveLength(1);
    const expiresAt = created[0].expiresAt ?? null;
    const terms = await dialog.getByRole('listitem').allInnerTexts();
    // Under the link, above its buttons.
    const linkBox = (await dialog.getByRole('textbox', { name: 'Link' }).boundingBox())!;
    const listBox = (await dialog.getByRole('list').boundingBox())!;
    const doneBox = (await dialog.getByRole('button', { name: 'Done' }).boundingBox())!;
    expect(listBox.y).toBeGreaterThanOrEqual(linkBox.y + linkBox.height);
    expect(doneBox.y).toBeGreaterThanOrEqual(listBox.y + listBox.height);
    expect(errors).toEqual([]);
    await context.close();
    return { terms, expiresAt };
  }

  it('a download link says when it expires, that it has a password, and how many downloads it allows', async () => {
    const { terms, expiresAt } = await made('report.txt', async (d) => {
      await d.getByLabel('Expires after').selectOption('7 days');
      await d.getByLabel('Password (optional, 8 characters or more)').fill('longer12');
      await d.getByLabel('Downloads allowed (optional)').fill('3');
    });
    expect(expiresAt).toBe(clock + 7 * 86_400_000);
    expect(terms).toEqual([`Expires ${formatDate(expiresAt)}.`, 'Asks for the password you set: give it to the people you send the link to.', 'Can be downloaded 3 times, then stops working.']);
  });

  it('a link with none of its limits says so: never expires, no password, any number of downloads', async () => {
    const { terms } = await made('report.txt', async (d) => {
      await d.getByLabel('Expires after').selectOption('Never');
    });
    expect(terms).toEqual(['Never expires.', 'No password: the link alone is enough.', 'Can be downloaded any number of times.']);
  });

  it('a drop box says how many files and how many bytes it accepts, not downloads', async () => {
    const { terms } = await made('inbox', async (d) => {
      await d.getByLabel('Kind of link').selectOption('upload');
      await d.getByLabel('Expires after').selectOption('Never');
      await d.getByLabel('Files accepted at most (optional)').fill('1');
      await d.getByLabel('Bytes accepted in all (optional: 500M, 2G)').fill('500M');
    });
    expect(terms).toEqual(['Never expires.', 'No password: the link alone is enough.', 'Accepts at most 1 file.', 'Accepts at most 500 MiB in all.']);
  });
});
