/**
 * Regressions of the 2026-12-04 audit (docs/security-audit.md): each test here failed
 * before its fix. Zip archives of folders holding names an extractor would read as a way
 * out (`..\..\x`, `C:x`), and version ids that are not plain whole numbers.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

const run = promisify(execFile);
let t: TestServer;
let dir: { path: string; cleanup: () => Promise<void> };
let token: string;

const as = (path: string, init: RequestInit = {}) => fetch(t.url + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } });

beforeAll(async () => {
  t = await startTestServer({ versions: { keep: 5, days: 0, paths: {} }, trashDays: 7 });
  dir = await tempDir('ferry-security-audit-');
  await addUser(t, 'owen');
  token = (await tokenFor(t, 'owen')).token;
});

afterAll(async () => {
  await t?.close();
  await dir?.cleanup();
});

/** The member names of a zip answer (after checking it is one). */
async function members(res: Response, file: string): Promise<string[]> {
  expect(res.status, res.status === 200 ? '' : await res.clone().text()).toBe(200);
  writeFileSync(join(dir.path, file), Buffer.from(await res.arrayBuffer()));
  const { stdout } = await run('unzip', ['-Z1', join(dir.path, file)], { encoding: 'utf8' });
  return stdout.trim().split('\n').sort();
}

describe('zip archives of names an extractor would misread', () => {
  it("a drop-box visitor's '..\\..\\x' or 'C:x' neither breaks the owner's folder zip nor climbs out of it", async () => {
    expect((await as('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
    expect((await as('/api/v1/files/inbox/fine.txt', { method: 'PUT', body: 'fine' })).status).toBe(201);
    const drop = await share(t, token, { path: '/inbox', kind: 'upload' });
    // Anyone holding the upload link can name a file so.
    for (const name of ['..\\..\\evil.txt', 'C:boot.ini', 'trailing\\']) {
      const put = await fetch(`${drop.url}/${encodeURIComponent(name)}`, { method: 'PUT', body: 'x' });
      expect(put.status, name).toBe(201);
    }
    const folder = ['inbox/', 'inbox/.._.._evil.txt', 'inbox/C:boot.ini', 'inbox/fine.txt', 'inbox/trailing_'];
    expect(await members(await as('/api/v1/zip/inbox'), 'inbox.zip')).toEqual(folder);
    // A selection puts the names at the archive's root, where `C:` would be a drive.
    expect(await members(await as('/api/v1/zip?path=/inbox/C:boot.ini&path=/inbox/..%5C..%5Cevil.txt'), 'picked.zip')).toEqual(['.._.._evil.txt', 'C_boot.ini']);
    // The folder's download link serves the same archive to anyone.
    const link = await share(t, token, { path: '/inbox' });
    expect(await members(await fetch(`${link.url}?zip=1`), 'link.zip')).toEqual(folder);
    // Unpacked, everything lands inside the target folder.
    const out = join(dir.path, 'out');
    await run('unzip', ['-q', join(dir.path, 'inbox.zip'), '-d', out]);
    const { stdout } = await run('find', [dir.path, '-name', '*evil*'], { encoding: 'utf8' });
    expect(stdout.trim()).toBe(join(out, 'inbox', '.._.._evil.txt'));
  });
});

describe('version ids', () => {
  it('takes only plain whole numbers: 0x.., 1e0, spaces and signs are a 400, not another version', async () => {
    for (const body of ['one', 'two', 'three']) {
      const res = await as('/api/v1/files/v.txt', { method: 'PUT', body });
      expect(res.status, await res.text()).toBeLessThan(300);
    }
    const { versions } = (await (await as('/api/v1/versions/v.txt')).json()) as { versions: { id: number }[] };
    const id = versions[versions.length - 1].id;
    expect(await (await as(`/api/v1/files/v.txt?version=${id}`)).text()).toBe('one');
    for (const bad of [`0x${id.toString(16)}`, `${id}e0`, `%20${id}`, `+${id}`, `0${id}`, `${id}.0`]) {
      const res = await as(`/api/v1/files/v.txt?version=${bad}`);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_VALIDATION');
    }
    const restore = await as('/api/v1/versions/restore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/v.txt', version: `0x${id.toString(16)}` }) });
    expect(restore.status).toBe(400);
    expect(await (await as('/api/v1/files/v.txt')).text()).toBe('three');
    const trash = await as('/api/v1/trash/restore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: '1e0' }) });
    expect(trash.status).toBe(400);
  });
});
