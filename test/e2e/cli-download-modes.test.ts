/**
 * The mode a file has on the server is whatever its uploader said, and an anonymous
 * drop-box visitor's upload session could name 04777: `ferry get` then wrote the visitor's
 * file as `-rwxrwxrwx`, executable and writable by every local user, whatever the user's
 * umask. Now a visitor's file is stored without a mode of theirs, and a download's mode is
 * the stored permission bits under the umask (as `cp`, `tar` for a user who is not root,
 * and `rsync` without `-p`), for modes other writers (or a hostile server) chose: 0777
 * becomes 0755 under umask 022, and a file the user stored as 0755 still comes back 0755.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ok, startWorld, type E2EWorld } from '../helpers/e2e.js';

let w: E2EWorld;
let savedUmask: number;

async function api(path: string, token: string, init: { method?: string; json?: unknown; body?: Buffer; type?: string } = {}): Promise<Response> {
  return fetch(`${w.server.url}${path}`, {
    method: init.method ?? (init.json === undefined && init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: `Bearer ${token}`, 'content-type': init.type ?? 'application/json' },
    body: init.body ?? (init.json === undefined ? undefined : JSON.stringify(init.json)),
  });
}

/** Sends `data` into the upload link `key` as its anonymous visitors do (the drop box page's upload session), claiming `mode`. */
async function visitorUpload(key: string, name: string, data: Buffer, mode: number): Promise<void> {
  const unlock = await fetch(`${w.server.url}/s/${key}/unlock`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  expect(unlock.status).toBe(200);
  const { token } = (await unlock.json()) as { token: string };
  await sessionUpload(token, `/${name}`, data, mode);
}

/** One file through an upload session, its mode named at creation and again at the commit. */
async function sessionUpload(token: string, path: string, data: Buffer, mode: number): Promise<void> {
  const chunk = createHash('sha256').update(data).digest('hex');
  const hash = createHash('sha256').update(Buffer.from(chunk, 'hex')).digest('hex');
  const created = await api('/api/v1/uploads', token, { json: { path, size: data.length, hash, mtime: Date.now(), mode, chunks: [{ hash: chunk, size: data.length }] } });
  expect(created.status).toBe(201);
  const { id } = (await created.json()) as { id: string };
  expect((await api(`/api/v1/uploads/${id}/chunks/${chunk}`, token, { method: 'PUT', body: data, type: 'application/octet-stream' })).status).toBe(200);
  expect((await api(`/api/v1/uploads/${id}/commit`, token, { json: { mode } })).status).toBe(200);
}

beforeAll(async () => {
  // The CLI runs with the umask it inherits from here.
  savedUmask = process.umask(0o022);
  w = await startWorld();
  const admin = w.server.adminToken;
  expect((await api('/api/v1/mkdir/inbox', admin, { method: 'POST' })).status).toBe(201);
  const link = await api('/api/v1/shares', admin, { json: { path: '/inbox', kind: 'upload' } });
  expect(link.status).toBe(201);
  const key = ((await link.json()) as { url: string }).url.split('/s/')[1];
  await visitorUpload(key, 'invoice.pdf', Buffer.from('#!/bin/sh\necho the visitor chose this\n'), 0o4777);
  // Another writer (any token of the user, or what a hostile server would list).
  await sessionUpload(admin, '/shared/tool.sh', Buffer.from('#!/bin/sh\necho a writer chose this\n'), 0o4777);
});
afterAll(async () => {
  process.umask(savedUmask);
  await w?.close();
});

describe("modes of downloaded files, as others chose them", () => {
  it("stores a drop-box visitor's file without the mode they named", async () => {
    const st = (await (await api('/api/v1/stat/inbox/invoice.pdf', w.server.adminToken)).json()) as { mode?: number };
    expect(st.mode).toBeUndefined();
    const one = join(w.dir, 'one.pdf');
    ok(await w.ferry(['get', '/inbox/invoice.pdf', one]));
    expect((await stat(one)).mode & 0o7777).toBe(0o644);
  });

  it('writes a file stored as 04777 under the umask, with `get` and with `get -r`', async () => {
    const one = join(w.dir, 'tool.sh');
    ok(await w.ferry(['get', '/shared/tool.sh', one]));
    expect((await stat(one)).mode & 0o7777).toBe(0o755);
    const tree = join(w.dir, 'tree');
    ok(await w.ferry(['get', '-r', '/shared', tree]));
    expect((await stat(join(tree, 'tool.sh'))).mode & 0o7777).toBe(0o755);
    // Fetched again over the copy in place: it is kept, with the same mode.
    ok(await w.ferry(['get', '-r', '/shared', tree]));
    expect((await stat(join(tree, 'tool.sh'))).mode & 0o7777).toBe(0o755);
  });

  it("keeps the user's own 0755 and 0640 as they were", async () => {
    const dir = join(w.dir, 'own');
    const { mkdir, writeFile, chmod } = await import('node:fs/promises');
    await mkdir(dir);
    await writeFile(join(dir, 'run.sh'), '#!/bin/sh\n');
    await chmod(join(dir, 'run.sh'), 0o755);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    await chmod(join(dir, 'notes.txt'), 0o640);
    ok(await w.ferry(['put', '-r', dir, '/own']));
    const back = join(w.dir, 'back');
    ok(await w.ferry(['get', '-r', '/own', back]));
    expect((await stat(join(back, 'run.sh'))).mode & 0o777).toBe(0o755);
    expect((await stat(join(back, 'notes.txt'))).mode & 0o777).toBe(0o640);
  });
});
