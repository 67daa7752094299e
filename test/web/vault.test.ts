/**
 * End-to-end vaults in the web app, in real Chromium against a real server, with the real
 * CLI on the other side (both directions of the format):
 *   - a vault made and filled by the CLI stays locked until its passphrase is given (a wrong
 *     one is refused and nothing is listed), then shows the decrypted names (files and
 *     folders) with the sizes and times of the sealed tables;
 *   - files uploaded in the browser into the vault (file picker, drag and drop, a new folder)
 *     are read back byte for byte by `ferry get`; the marker strings of their names and
 *     content never cross a recording proxy between the browser and the server, nor land in
 *     the server's data directory (a plain upload of the same bytes shows the proxy sees them),
 *     nor do the CLI's requests when it reads them back;
 *   - a 96 MiB upload keeps the page's JavaScript heap bounded (CDP Runtime.getHeapUsage);
 *   - rename and move in the vault store the names the CLI computes for the new places, and
 *     so does renaming an unlocked vault that holds files from its parent folder;
 *   - the share dialog's link carries the file key after '#' and decrypts in a fresh browser;
 *   - Lock forgets the key, and so does a reload; nothing of it is left in the page's storage.
 *
 * The sizes and times come from each file's header, read with the SDK's getChunk: the
 * server answers Chromium (which asks for zstd on every request) in zstd when the chunk
 * compresses, and the fetch transport must hand over the body fetch decoded
 * (src/client/fetch-transport.ts); without that the listing stays on "stored".
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysFor } from '../../src/client/e2e/kdf.js';
import { parseMarker } from '../../src/client/e2e/kdf.js';
import { serverPathOf } from '../../src/client/e2e/locate.js';
import { nodeScrypt } from '../../src/client/e2e/node-keys.js';
import type { E2eKeys } from '../../src/client/e2e/format.js';
import { runFerry } from '../helpers/cli.js';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { filesContaining, startRecordingProxy, type RecordingProxy } from '../helpers/recording-proxy.js';
import { addUser } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const PASS = 'a long passphrase for the web vault';
const NAME_MARK = 'NAMEMARKER-b71c';
const BODY_MARK = 'BODYMARKER-93e2';
const PLAIN_MARK = 'PLAINMARKER-44d0';
const UPLOAD_NAME = `${NAME_MARK}-report.txt`;
const MiB = 1024 * 1024;

let t: TestServer;
let proxy: RecordingProxy;
let browser: Browser;
let dir: { path: string; cleanup: () => Promise<void> };
let ferry: (args: string[]) => ReturnType<typeof runFerry>;
let owner: { context: BrowserContext; page: Page; errors: string[] };
let keys: E2eKeys;
let token: string;
const loc = { dir: '/vault', marker: undefined as unknown as ReturnType<typeof parseMarker> };
const cliFiles: Record<string, Buffer> = {};

/** Bytes with `marker` throughout and random bytes between (several chunks, nothing compressible). */
function marked(marker: string, size: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  for (let i = 0; n < size; i++) {
    const p = i % 2 === 0 ? Buffer.from(`${marker} ${i}\n`) : randomBytes(Math.min(64 * 1024, size - n));
    parts.push(p);
    n += p.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

async function getWithCli(remote: string): Promise<Buffer> {
  const out = join(dir.path, `got-${randomBytes(4).toString('hex')}`);
  const got = await ferry(['get', remote, out]);
  expect(got.code, got.stderr).toBe(0);
  return readFileSync(out);
}

async function storedExists(path: string): Promise<boolean> {
  const res = await fetch(`${t.url}/api/v1/stat${path.split('/').map(encodeURIComponent).join('/')}`, { headers: { authorization: `Bearer ${token}` } });
  return res.status === 200;
}

async function unlock(page: Page, passphrase = PASS): Promise<void> {
  await page.getByLabel('Passphrase').fill(passphrase);
  await page.getByRole('button', { name: 'Unlock' }).click();
}

/** In-app navigation (no reload: a reload forgets the keys, as it should). */
async function go(page: Page, path: string): Promise<void> {
  await page.evaluate(`history.pushState(null, '', ${JSON.stringify(path)}); dispatchEvent(new PopStateEvent('popstate'))`);
}

const uploadsDone = (page: Page) => page.locator('li.upload[data-state=done]').count();

beforeAll(async () => {
  t = await startTestServer();
  dir = await tempDir('ferry-web-vault-');
  await addUser(t, 'vera', { password: 'vera-password-1' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'vera', password: 'vera-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  writeFileSync(join(dir.path, 'pass'), PASS + '\n');
  const env = { FERRY_SERVER: t.url, FERRY_TOKEN: token, FERRY_CONFIG: join(dir.path, 'config.json'), HOME: dir.path };
  ferry = (args) => runFerry([...args, '--passphrase-file', join(dir.path, 'pass')], { env });
  expect((await ferry(['mkdir', '--e2e', '/vault'])).code).toBe(0);
  cliFiles['cli-notes.txt'] = Buffer.concat([Buffer.from('notes from the cli\n'), randomBytes(2 * MiB + 777)]);
  cliFiles['deep.txt'] = Buffer.from('a file in a folder of the vault\n');
  for (const [name, bytes] of Object.entries(cliFiles)) writeFileSync(join(dir.path, name), bytes);
  for (const [src, dest] of [['cli-notes.txt', '/vault/cli-notes.txt'], ['deep.txt', '/vault/sub/deep.txt']]) {
    const put = await ferry(['put', join(dir.path, src), dest]);
    expect(put.code, put.stderr).toBe(0);
  }
  const markerRes = await fetch(`${t.url}/api/v1/files/vault/.ferry-e2e`, { headers: { authorization: `Bearer ${token}` } });
  loc.marker = parseMarker(await markerRes.text());
  keys = await keysFor({ passphrase: PASS }, loc.marker.kdf, loc.marker.check, nodeScrypt);
  proxy = await startRecordingProxy(Number(new URL(t.url).port), [NAME_MARK, BODY_MARK, PLAIN_MARK]);
  // From here the CLI talks through the proxy too: its lookups of nested plain names (a
  // marker below a vault) would show there.
  env.FERRY_SERVER = proxy.url;
  browser = await launch();
  owner = await freshContext(browser);
  await signIn(owner.page, proxy.url, 'vera', 'vera-password-1');
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await proxy?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('end-to-end vaults in the web app', () => {
  it('a vault made by the CLI is locked until its passphrase; a wrong one is refused and lists nothing; then the decrypted names, sizes and times', async () => {
    const { page } = owner;
    await page.goto(proxy.url + '/files/vault');
    await page.getByRole('heading', { name: 'End-to-end encrypted folder /vault' }).waitFor();
    expect(await page.locator('table.listing').count()).toBe(0);
    await unlock(page, 'not the passphrase');
    await expect.poll(() => page.getByRole('alert').textContent(), { timeout: 60_000 }).toMatch(/passphrase .*is not the one/);
    expect(await page.locator('table.listing').count()).toBe(0);
    // A file dropped on the locked vault is refused with what to do, and nothing goes up.
    const transfer = await page.evaluateHandle(`(() => { const dt = new DataTransfer(); dt.items.add(new File(['dropped while locked'], 'locked-drop.txt', { type: 'text/plain' })); return dt; })()`);
    await page.locator('.files').dispatchEvent('drop', { dataTransfer: transfer });
    await page.getByRole('alert').filter({ hasText: 'locked: unlock it' }).waitFor();
    expect(await page.locator('li.upload').count()).toBe(0);

    await unlock(page);
    await page.getByRole('checkbox', { name: 'Select cli-notes.txt' }).waitFor({ timeout: 60_000 });
    // Unlocked: that refusal is gone.
    expect(await page.getByRole('alert').filter({ hasText: 'locked: unlock it' }).count()).toBe(0);
    expect(await page.getByText(/\.fe2e/).count()).toBe(0);
    // The size of the sealed table (the plain size), not the stored one.
    const row = page.getByRole('row', { name: /cli-notes\.txt/ });
    await expect.poll(() => row.textContent(), { timeout: 30_000 }).not.toContain('stored');
    expect(await row.textContent()).toContain('2.0 MiB');
    await page.getByRole('link', { name: 'sub' }).click();
    await page.getByRole('checkbox', { name: 'Select deep.txt' }).waitFor();
    // The address holds the stored path (a reload sends no plain name); the crumbs show the plain one.
    expect(page.url()).toBe(proxy.url + '/files' + (await serverPathOf(keys, loc, '/vault/sub')));
    await page.getByRole('navigation', { name: 'Folder path' }).getByRole('link', { name: 'sub' }).waitFor();
    // So does the table's caption, which a screen reader reads (it read the stored names).
    expect(await page.locator('table.listing caption').textContent()).toBe('Contents of /vault/sub');
    expect(await page.getByText(/\.fe2e/).count()).toBe(0);
    expect(owner.errors).toEqual([]);
  });

  it('uploads in the browser (picker, drop, new folder) are read back byte for byte by ferry get; no marker crosses the proxy or lands in the data directory', async () => {
    const { page } = owner;
    await go(page, '/files/vault');
    await page.getByRole('checkbox', { name: 'Select cli-notes.txt' }).waitFor();
    const picked = marked(BODY_MARK, 3 * MiB + 4321);
    writeFileSync(join(dir.path, UPLOAD_NAME), picked);
    const before = proxy.bytes();
    await page.getByTestId('upload-files').setInputFiles(join(dir.path, UPLOAD_NAME));
    await expect.poll(() => uploadsDone(page), { timeout: 120_000, interval: 500 }).toBe(1);
    expect(proxy.bytes() - before).toBeGreaterThan(picked.length); // the file did cross, encrypted
    await page.getByRole('checkbox', { name: `Select ${UPLOAD_NAME}` }).waitFor();

    await page.getByRole('button', { name: 'New folder' }).click();
    await page.getByLabel('Folder name').fill(`${NAME_MARK}-folder`);
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('link', { name: `${NAME_MARK}-folder` }).click();
    await page.getByText('This folder is empty.').waitFor();
    // Drag and drop: a File made in the page, dropped on the file list.
    const dropped = `${BODY_MARK} dropped into a folder of the vault\n`;
    const transfer = await page.evaluateHandle(
      `(() => { const dt = new DataTransfer(); dt.items.add(new File([${JSON.stringify(dropped)}], ${JSON.stringify(`${NAME_MARK}-dropped.txt`)}, { type: 'text/plain' })); return dt; })()`,
    );
    await page.locator('.files').dispatchEvent('drop', { dataTransfer: transfer });
    await expect.poll(() => uploadsDone(page), { timeout: 60_000, interval: 500 }).toBe(2);
    await page.getByRole('checkbox', { name: `Select ${NAME_MARK}-dropped.txt` }).waitFor();

    expect(sha(await getWithCli(`/vault/${UPLOAD_NAME}`))).toBe(sha(picked));
    expect((await getWithCli(`/vault/${NAME_MARK}-folder/${NAME_MARK}-dropped.txt`)).toString()).toBe(dropped);
    const ls = await ferry(['ls', '/vault']);
    expect(ls.stdout).toContain(UPLOAD_NAME);
    expect(ls.stdout).toContain(`${NAME_MARK}-folder`);

    for (const m of [NAME_MARK, BODY_MARK]) {
      expect(proxy.saw(m), `${m} crossed the proxy`).toBe(false);
      expect(await filesContaining(t.dataDir, m)).toEqual([]);
    }
    expect(owner.errors).toEqual([]);
  });

  it('a 96 MiB upload into the vault keeps the page\'s heap bounded and matches byte for byte; a plain upload of such bytes does show its marker to the proxy', async () => {
    const { page, context } = owner;
    const big = marked(BODY_MARK, 96 * MiB);
    const plainBig = marked(PLAIN_MARK, 96 * MiB);
    writeFileSync(join(dir.path, 'big.bin'), big);
    writeFileSync(join(dir.path, 'plain-big.bin'), plainBig);
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.collectGarbage');
    // Live memory: after a collection, so that garbage not yet collected does not count.
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      const u = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number };
      return u.usedSize + (u.backingStorageSize ?? 0);
    };
    const base = await heap();
    let peak = base;
    await go(page, '/files/vault');
    await page.getByRole('checkbox', { name: 'Select cli-notes.txt' }).waitFor();
    const started = Date.now();
    await page.getByTestId('upload-files').setInputFiles(join(dir.path, 'big.bin'));
    for (;;) {
      peak = Math.max(peak, await heap());
      if ((await uploadsDone(page)) > 2 || (await page.locator('li.upload[data-state=failed]').count()) > 0) break;
      if (Date.now() - started > 300_000) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    const e2eSeconds = (Date.now() - started) / 1000;
    expect(await page.locator('li.upload[data-state=failed]').count()).toBe(0);
    expect(await uploadsDone(page)).toBe(3);
    // The file is never whole in the page: the peak stays far below its size.
    expect(peak - base, `heap grew from ${base} to ${peak}`).toBeLessThan(40 * MiB);
    expect(sha(await getWithCli('/vault/big.bin'))).toBe(sha(big));

    await go(page, '/files');
    await page.getByRole('link', { name: 'vault' }).waitFor();
    const plainStarted = Date.now();
    await page.getByTestId('upload-files').setInputFiles(join(dir.path, 'plain-big.bin'));
    await expect.poll(() => uploadsDone(page), { timeout: 300_000, interval: 200 }).toBe(4);
    const plainSeconds = (Date.now() - plainStarted) / 1000;
    expect(proxy.saw(PLAIN_MARK)).toBe(true); // the proxy does see what is not encrypted
    expect(proxy.saw(BODY_MARK)).toBe(false);
    console.log(`web upload of 96 MiB: vault ${e2eSeconds.toFixed(1)} s (${(96 / e2eSeconds).toFixed(1)} MiB/s), plain ${plainSeconds.toFixed(1)} s (${(96 / plainSeconds).toFixed(1)} MiB/s); heap peak ${((peak - base) / MiB).toFixed(1)} MiB above ${(base / MiB).toFixed(1)} MiB`);
    await cdp.detach();
  }, 600_000);

  it('rename and move in the vault store the names the CLI computes for the new places', async () => {
    const { page } = owner;
    await go(page, '/files/vault');
    await page.getByRole('checkbox', { name: 'Select cli-notes.txt' }).check();
    await page.getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('New name').fill('renamed-notes.txt');
    await page.getByRole('button', { name: 'Rename' }).last().click();
    await page.getByRole('checkbox', { name: 'Select renamed-notes.txt' }).waitFor();
    expect(await storedExists(await serverPathOf(keys, loc, '/vault/renamed-notes.txt'))).toBe(true);

    await page.getByRole('checkbox', { name: 'Select renamed-notes.txt' }).check();
    await page.getByRole('button', { name: 'Move' }).click();
    await page.getByLabel('To folder (in this end-to-end folder)').fill('/vault/sub');
    await page.getByRole('button', { name: 'Move' }).last().click();
    await page.getByRole('checkbox', { name: 'Select renamed-notes.txt' }).waitFor({ state: 'detached' });
    expect(await storedExists(await serverPathOf(keys, loc, '/vault/sub/renamed-notes.txt'))).toBe(true);
    expect(sha(await getWithCli('/vault/sub/renamed-notes.txt'))).toBe(sha(cliFiles['cli-notes.txt']));

    // A move out of the vault would need decrypting: refused, nothing moved.
    await page.getByRole('checkbox', { name: 'Select big.bin' }).check();
    await page.getByRole('button', { name: 'Move' }).click();
    await page.getByLabel('To folder (in this end-to-end folder)').fill('/elsewhere');
    await page.getByRole('button', { name: 'Move' }).last().click();
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/outside the end-to-end folder \/vault/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await storedExists(await serverPathOf(keys, loc, '/vault/big.bin'))).toBe(true);
    expect(owner.errors).toEqual([]);
  });

  it('the share dialog makes a link with the file key after #, which decrypts in a fresh browser', async () => {
    const { page } = owner;
    await go(page, '/files/vault');
    const all = page.getByRole('checkbox', { name: 'Select all' }); // clears what the test before left selected
    await all.check();
    await all.uncheck();
    await page.getByRole('checkbox', { name: `Select ${UPLOAD_NAME}` }).check();
    await page.getByRole('button', { name: 'Share' }).click();
    await page.getByRole('button', { name: 'Create link' }).click();
    await page.getByText('its key is in the link').waitFor();
    const url = await page.getByRole('textbox', { name: 'Link' }).inputValue();
    expect(url).toMatch(/\/s\/[^#]+#k=[A-Za-z0-9_-]{43}$/);
    await page.getByRole('button', { name: 'Done' }).click();

    const visitor = await freshContext(browser);
    await visitor.page.goto(url);
    const [download] = await Promise.all([visitor.page.waitForEvent('download', { timeout: 60_000 }), visitor.page.getByRole('button', { name: 'Decrypt and download' }).click()]);
    expect(download.suggestedFilename()).toBe(UPLOAD_NAME);
    const saved = join(dir.path, 'from-link');
    await download.saveAs(saved);
    expect(sha(readFileSync(saved))).toBe(sha(readFileSync(join(dir.path, UPLOAD_NAME))));
    expect(visitor.errors).toEqual([]);
    await visitor.context.close();
  });

  it('downloads a vault file decrypted in the page', async () => {
    const { page } = owner;
    await go(page, '/files' + (await serverPathOf(keys, loc, '/vault/sub')));
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Open deep.txt' }).click()]);
    expect(download.suggestedFilename()).toBe('deep.txt');
    const saved = join(dir.path, 'deep-down');
    await download.saveAs(saved);
    expect(readFileSync(saved).equals(cliFiles['deep.txt'])).toBe(true);
    await page.getByText('Decrypted and verified: deep.txt').waitFor();
    await page.getByRole('button', { name: 'Close' }).click();

    // Renamed and moved here by the test above: offered under its name now, not the one sealed at its put (cli-notes.txt).
    const [renamed] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.getByRole('button', { name: 'Open renamed-notes.txt' }).click()]);
    expect(renamed.suggestedFilename()).toBe('renamed-notes.txt');
    await page.getByText('Decrypted and verified: renamed-notes.txt').waitFor();
    await page.getByRole('button', { name: 'Close' }).click();
  });

  it('Lock forgets the key; a reload does too; nothing of it is kept in the page\'s storage', async () => {
    const { page, context } = owner;
    await go(page, '/files/vault');
    await page.getByRole('checkbox', { name: 'Select big.bin' }).waitFor();
    const storage = await page.evaluate<string>(
      `(async () => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie, dbs: await indexedDB.databases() }))()`,
    );
    expect(storage).not.toContain(PASS);
    const cookies = JSON.stringify(await context.cookies());
    expect(cookies).not.toContain(PASS);
    await page.getByRole('button', { name: 'Lock' }).click();
    await page.getByRole('heading', { name: 'End-to-end encrypted folder /vault' }).waitFor();
    expect(await page.locator('table.listing').count()).toBe(0);
    await unlock(page);
    await page.getByRole('checkbox', { name: 'Select big.bin' }).waitFor({ timeout: 60_000 });
    await page.reload();
    await page.getByRole('heading', { name: 'End-to-end encrypted folder /vault' }).waitFor();
    expect(await page.locator('table.listing').count()).toBe(0);
    expect(owner.errors).toEqual([]);
  });

  it('a vault made with a key file opens with that file picked in the page; another key file is refused', async () => {
    await addUser(t, 'kim', { password: 'kim-password-1' });
    const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'kim', password: 'kim-password-1' }) });
    const kimToken = ((await login.json()) as { token: string }).token;
    const env = { FERRY_SERVER: t.url, FERRY_TOKEN: kimToken, FERRY_CONFIG: join(dir.path, 'kim.json'), HOME: dir.path };
    const keyFile = join(dir.path, 'kim.key');
    const otherKey = join(dir.path, 'other.key');
    for (const f of [keyFile, otherKey]) expect((await runFerry(['admin', 'keygen', f], { env })).code).toBe(0);
    expect((await runFerry(['mkdir', '--e2e', '/kv', '--e2e-key-file', keyFile], { env })).code).toBe(0);
    writeFileSync(join(dir.path, 'by-key.txt'), 'opened by a key file\n');
    const put = await runFerry(['put', join(dir.path, 'by-key.txt'), '/kv/', '--e2e-key-file', keyFile], { env });
    expect(put.code, put.stderr).toBe(0);

    const kim = await freshContext(browser);
    await signIn(kim.page, t.url, 'kim', 'kim-password-1');
    await kim.page.goto(t.url + '/files/kv');
    const input = kim.page.getByLabel('Key file (ferry admin keygen)');
    await input.setInputFiles(otherKey);
    await kim.page.getByRole('button', { name: 'Unlock' }).click();
    await expect.poll(() => kim.page.getByRole('alert').textContent()).toMatch(/key file\) is not the one/);
    expect(await kim.page.locator('table.listing').count()).toBe(0);
    await input.setInputFiles(keyFile);
    await kim.page.getByRole('button', { name: 'Unlock' }).click();
    await kim.page.getByRole('checkbox', { name: 'Select by-key.txt' }).waitFor();
    expect(kim.errors).toEqual([]);
    await kim.context.close();
  });

  it('renames a vault that holds files from its parent folder once it is unlocked (names encrypted again for its new path); locked, refused with what to do', async () => {
    const { page } = owner;
    expect((await ferry(['mkdir', '--e2e', '/rv'])).code).toBe(0);
    const put = await ferry(['put', join(dir.path, 'deep.txt'), '/rv/sub/inside.txt']);
    expect(put.code, put.stderr).toBe(0);
    const rename = async (from: string, to: string) => {
      await go(page, '/files');
      await page.getByRole('checkbox', { name: `Select ${from}` }).check();
      await page.getByRole('button', { name: 'Rename' }).click();
      await page.getByLabel('New name').fill(to);
      await page.getByRole('button', { name: 'Rename' }).last().click();
    };
    // The test before reloaded the page: the key is forgotten, the server refuses, nothing moves.
    await rename('rv', 'rv-renamed');
    await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/end-to-end encrypted folder with files.*open it and unlock it first/);
    await page.getByRole('button', { name: 'Cancel' }).click();
    expect(await storedExists('/rv')).toBe(true);
    expect(await storedExists('/rv-renamed')).toBe(false);

    await go(page, '/files/rv');
    await unlock(page);
    await page.getByRole('checkbox', { name: 'Select sub' }).waitFor({ timeout: 60_000 });
    await page.getByRole('checkbox', { name: 'Select sub' }).uncheck();
    await rename('rv', 'rv-renamed');
    await page.getByRole('checkbox', { name: 'Select rv-renamed' }).waitFor();
    expect(await storedExists('/rv')).toBe(false);
    // Every name below is the one the CLI computes for the new path, and the CLI reads the file there.
    const moved = { dir: '/rv-renamed', marker: loc.marker };
    expect(await storedExists(await serverPathOf(keys, moved, '/rv-renamed/sub'))).toBe(true);
    expect(await storedExists(await serverPathOf(keys, moved, '/rv-renamed/sub/inside.txt'))).toBe(true);
    expect((await getWithCli('/rv-renamed/sub/inside.txt')).equals(cliFiles['deep.txt'])).toBe(true);
    expect(owner.errors).toEqual([]);
  });

  it("the root's key marker (made by put --encrypt) is not listed as a file of the user's", async () => {
    const { page } = owner;
    const put = await ferry(['put', '--encrypt', join(dir.path, 'deep.txt'), '/deep-encrypted.txt']);
    expect(put.code, put.stderr).toBe(0);
    expect(await storedExists('/.ferry-e2e')).toBe(true);
    await go(page, '/files');
    await page.getByRole('checkbox', { name: 'Select rv-renamed' }).waitFor({ timeout: 60_000 });
    expect(await page.getByRole('checkbox', { name: 'Select vault' }).count()).toBe(1);
    expect(await page.getByRole('checkbox', { name: 'Select .ferry-e2e' }).count()).toBe(0);
    expect(await page.getByText('.ferry-e2e').count()).toBe(0);
    expect(owner.errors).toEqual([]);
  });
});
