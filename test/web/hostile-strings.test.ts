/**
 * Strings an attacker chooses, shown by the web app in real Chromium: file and folder names,
 * share link names, token names, an SSH key's comment, a failed sign-in's user name (the
 * admin's audit log), versions and trash entries, a drop box visitor's file name, and a name
 * of 255 characters without a space. Each page is checked for what an injection would leave
 * (an element with an event handler, a dialog, a request to another origin, an uncaught
 * error), and the long name must leave the row's buttons inside the page.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share } from '../helpers/users.js';
import { freshContext, launch, signIn } from './browser.js';

const XSS = ['<img src=x onerror=alert(1)>', '"><svg onload=alert(2)>', "'><iframe src=javascript:alert(3)>"];
const LONG = 'L'.repeat(251) + '.txt'; // 255, the longest name

let t: TestServer;
let browser: Browser;
let token: string;
let dir: { path: string; cleanup: () => Promise<void> };

const filesPath = (p: string) => `/api/v1/files${p.split('/').map(encodeURIComponent).join('/')}`;

async function call(path: string, init: RequestInit & { json?: unknown } = {}, expected = [200, 201, 204]): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', `Bearer ${token}`);
  if (init.json !== undefined) headers.set('content-type', 'application/json');
  const r = await fetch(t.url + path, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body });
  expect(expected, `${init.method ?? 'GET'} ${path}: ${r.status}`).toContain(r.status);
  return r;
}

/** Whatever an injected payload would leave in the page: elements with handlers, frames, scripts from elsewhere. */
async function injected(page: Page): Promise<string[]> {
  // Run in the page (a string: this file is type-checked without the DOM's types).
  return page.evaluate<string[]>(`(() => {
    const found = [];
    for (const el of document.querySelectorAll('*')) {
      for (const a of el.attributes) {
        if (/^on/i.test(a.name)) found.push(el.tagName + ' ' + a.name);
        if (/^\\s*javascript:/i.test(a.value)) found.push(el.tagName + ' ' + a.name + '=' + a.value);
      }
    }
    for (const el of document.querySelectorAll('img[src="x"], svg[onload], iframe:not([title^="PDF"])')) found.push(el.outerHTML.slice(0, 80));
    return found;
  })()`);
}

async function watch(page: Page): Promise<{ dialogs: string[]; foreign: string[] }> {
  const seen = { dialogs: [] as string[], foreign: [] as string[] };
  page.on('dialog', (d) => {
    seen.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(t.url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) seen.foreign.push(r.url());
  });
  return seen;
}

beforeAll(async () => {
  t = await startTestServer({ trashDays: 30, versions: { keep: 5, days: 0, paths: {} } });
  dir = await tempDir('ferry-web-hostile-');
  await addUser(t, 'mallory', { password: 'mallory-password-1', role: 'admin' });
  const login = await fetch(t.url + '/api/v1/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'mallory', password: 'mallory-password-1' }) });
  token = ((await login.json()) as { token: string }).token;
  await call('/api/v1/mkdir/' + encodeURIComponent(XSS[1]!), { method: 'POST' });
  for (const name of [XSS[0]!, XSS[2]!, LONG]) await call(filesPath('/' + name), { method: 'PUT', body: 'hello ' + name });
  await call(filesPath(`/${XSS[1]}/${XSS[0]}`), { method: 'PUT', body: 'inside' });
  await call(filesPath('/' + XSS[0]), { method: 'PUT', body: 'second version' });
  await call(filesPath('/gone ' + XSS[2]), { method: 'PUT', body: 'to the trash' });
  await call(filesPath('/gone ' + XSS[2]), { method: 'DELETE' });
  for (const name of XSS) await call('/api/v1/tokens', { method: 'POST', json: { name } });
  await share(t, token, { path: '/' + XSS[0], name: XSS[1] });
  await share(t, token, { path: '/' + LONG });
  const drop = await share(t, token, { path: '/' + XSS[1], kind: 'upload', name: XSS[2] });
  const visitor = await fetch(`${drop.url}/${encodeURIComponent(XSS[0]!)}`, { method: 'PUT', body: 'from a visitor' });
  expect(visitor.status).toBe(201);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', XSS[0]!, '-f', join(dir.path, 'k')]);
  await call('/api/v1/users/mallory/keys', { method: 'POST', json: { keys: readFileSync(join(dir.path, 'k.pub'), 'utf8') } });
  // A failed sign-in whose user name is a payload: the admin's audit log shows it.
  const bad = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: XSS[0], password: 'nope-nope-nope' }) });
  expect(bad.status).toBe(401);
  browser = await launch();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await t?.close();
  await dir?.cleanup();
});

describe('strings an attacker chose, in the web app', () => {
  it('every page shows them as text: no element, handler, dialog or request comes of them', async () => {
    const { context, page, errors } = await freshContext(browser);
    const seen = await watch(page);
    await signIn(page, t.url, 'mallory', 'mallory-password-1');
    const pages: Array<[string, string]> = [
      ['/files', XSS[0]!],
      [`/files/${encodeURIComponent(XSS[1]!)}`, XSS[0]!],
      ['/shares', XSS[1]!],
      ['/trash', 'gone ' + XSS[2]],
      ['/tokens', XSS[2]!],
      ['/account', XSS[0]!],
      ['/admin/audit', XSS[0]!],
      ['/admin/users', 'mallory'],
    ];
    for (const [path, text] of pages) {
      await page.goto(t.url + path);
      await page.getByText(text, { exact: false }).first().waitFor();
      expect(await injected(page), path).toEqual([]);
    }
    // The versions of a file whose name is a payload.
    await page.goto(t.url + '/files');
    await page.getByRole('checkbox', { name: `Select ${XSS[0]}` }).check();
    await page.getByRole('button', { name: 'Versions' }).click();
    await page.getByRole('dialog').waitFor();
    expect(await injected(page), 'versions').toEqual([]);
    // The check itself sees what an injection leaves (an element made from markup).
    await page.evaluate(`document.body.insertAdjacentHTML('beforeend', ${JSON.stringify(XSS[0])})`);
    expect(await injected(page), 'a planted element').toEqual(['IMG onerror', expect.stringContaining('<img src="x"')]);
    expect(seen.dialogs).toEqual([]);
    expect(seen.foreign).toEqual([]);
    expect(errors).toEqual([]);
    await context.close();
  });

  it('a share and a drop box page named by a payload show it as text', async () => {
    const file = await share(t, token, { path: '/' + XSS[0], name: XSS[1] });
    const drop = await share(t, token, { path: '/' + XSS[1], kind: 'upload', name: XSS[2] });
    const folder = await share(t, token, { path: '/' + XSS[1] });
    for (const url of [file.url, drop.url, folder.url]) {
      const { context, page, errors } = await freshContext(browser);
      const seen = await watch(page);
      await page.goto(url);
      await page.getByRole('heading').first().waitFor();
      expect(await injected(page), url).toEqual([]);
      expect(seen.dialogs).toEqual([]);
      expect(seen.foreign).toEqual([]);
      expect(errors).toEqual([]);
      await context.close();
    }
  });

  it('direction controls and control characters show written out: a key comment, names kept from before the checks, a sign-in name', async () => {
    // `x<RLO>gpj.exe` reads `xexe.jpg`. SSH key comments refuse it since the eleventh round,
    // token and link names since the web round: older ones are put in the store as kept.
    const RLO = 'bidi\u202egpj.exe\u0007';
    const key = (c: string) => `ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ${c}`;
    await call('/api/v1/users/mallory/keys', { method: 'POST', json: { keys: key('bidi\u202egpj.exe') } }, [400]);
    await call('/api/v1/users/mallory/keys', { method: 'POST', json: { keys: key('key-before-the-check') } });
    await call('/api/v1/tokens', { method: 'POST', json: { name: 'token-before-the-check' } });
    await call(filesPath('/rlo.txt'), { method: 'PUT', body: 'rlo' });
    await share(t, token, { path: '/rlo.txt', name: 'link-before-the-check' });
    const drop = await share(t, token, { path: '/' + XSS[1], kind: 'upload', name: 'drop-before-the-check' });
    const db = new Database(join(t.dataDir, 'meta.db'));
    try {
      expect(db.prepare('UPDATE ssh_keys SET comment = ? WHERE comment = ?').run(RLO, 'key-before-the-check').changes).toBe(1);
      expect(db.prepare('UPDATE tokens SET name = ? WHERE name = ?').run('token ' + RLO, 'token-before-the-check').changes).toBe(1);
      expect(db.prepare('UPDATE shares SET name = ? WHERE name = ?').run('link ' + RLO, 'link-before-the-check').changes).toBe(1);
      expect(db.prepare('UPDATE shares SET name = ? WHERE name = ?').run('drop ' + RLO, 'drop-before-the-check').changes).toBe(1);
    } finally {
      db.close();
    }
    const bad = await fetch(t.url + '/api/v1/auth/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'who ' + RLO, password: 'nope-nope-nope' }) });
    expect(bad.status).toBe(401);
    const SHOWN = 'bidi\\u202egpj.exe\\x07';
    const raw = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;
    const { context, page } = await freshContext(browser);
    await signIn(page, t.url, 'mallory', 'mallory-password-1');
    for (const [path, text] of [
      ['/account', SHOWN],
      ['/tokens', 'token ' + SHOWN],
      ['/shares', 'link ' + SHOWN],
      ['/admin/audit', 'who ' + SHOWN],
    ] as const) {
      await page.goto(t.url + path);
      await page.getByText(text, { exact: false }).first().waitFor();
      expect(await page.evaluate<string>('document.body.innerText'), path).not.toMatch(raw);
    }
    await page.goto(drop.url);
    await page.getByText('drop ' + SHOWN, { exact: false }).first().waitFor();
    expect(await page.evaluate<string>('document.body.innerText'), 'drop box').not.toMatch(raw);
    await context.close();
  });

  it('a name of 255 characters without a space leaves its row\'s buttons on the page', async () => {
    const { context, page } = await freshContext(browser, { width: 1024, height: 700 });
    await signIn(page, t.url, 'mallory', 'mallory-password-1');
    for (const [path, name] of [
      ['/files', 'Delete'],
      ['/shares', undefined],
    ] as const) {
      await page.goto(t.url + path);
      await page.getByText(LONG.slice(0, 40), { exact: false }).first().waitFor();
      const width = await page.evaluate<number>('document.documentElement.clientWidth');
      const scroll = await page.evaluate<number>('document.documentElement.scrollWidth');
      expect(scroll, `${path}: the page does not scroll sideways`).toBeLessThanOrEqual(width);
      if (name) {
        await page.getByRole('checkbox', { name: `Select ${LONG}` }).check();
        const box = await page.getByRole('button', { name }).boundingBox();
        expect(box, path).not.toBeNull();
        expect(box!.x + box!.width, `${path}: the actions button inside the page`).toBeLessThanOrEqual(width);
      }
    }
    await context.close();
  });

  it('on a folder link\'s page at a phone\'s width, too', async () => {
    await call(filesPath(`/long/${LONG}`), { method: 'PUT', body: 'long' });
    const link = await share(t, token, { path: '/long' });
    const { context, page } = await freshContext(browser, { width: 390, height: 700 });
    await page.goto(link.url);
    await page.getByText(LONG.slice(0, 40), { exact: false }).first().waitFor();
    const width = await page.evaluate<number>('document.documentElement.clientWidth');
    expect(await page.evaluate<number>('document.documentElement.scrollWidth'), 'no sideways scrolling').toBeLessThanOrEqual(width);
    const box = await page.getByRole('link', { name: `Download ${LONG}` }).boundingBox();
    expect(box).not.toBeNull();
    expect(box!.x + box!.width, 'its download link inside the page').toBeLessThanOrEqual(width);
    await context.close();
  });
});
