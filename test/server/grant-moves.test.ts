/**
 * A grant that withholds 'read' (a folder its user may list, or list and manage, but not
 * read) must hold whatever the front: moving or renaming a file out of it into a folder the
 * user may read, or restoring it from the trash there, would hand over its bytes. Before the
 * fix a move needed only 'delete' at the source and 'write' at the destination, and a trash
 * restore 'list' at the file's old place: each of these read a file its user could not. And
 * emptying the trash of a folder dropped what was deleted from sub-folders where its user may
 * not delete (the only copy left of a file deleted there by someone who may).
 * Moves the grants allow (inside the folder, or to where nothing can be read) still work.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic, dav } from '../helpers/dav.js';
import { uploadBuffer } from '../helpers/in-process-server.js';
import { sftpOf, sshClient, sshUser, startSftpServer, type SftpServer } from '../helpers/sftp.js';
import { tokenFor } from '../helpers/users.js';
import { readFile } from 'node:fs/promises';

let s: SftpServer;
let token: string;
const secret = randomBytes(3000);

const as = (path: string, init: RequestInit & { json?: unknown } = {}) => s.t.api(path, { ...init, token });
const move = (from: string, to: string) => as('/api/v1/move', { method: 'POST', json: { from, to } });

/** Puts the secret at a server path of mia's home (as the admin: mia cannot write there). */
async function plant(path: string): Promise<void> {
  expect((await uploadBuffer(s.t, `/users/mia${path}`, secret)).status).toBe(200);
}

async function readable(path: string): Promise<number> {
  return (await as(`/api/v1/files${path}`)).status;
}

beforeAll(async () => {
  s = await startSftpServer({ trashDays: 7 });
  await sshUser(s, 'mia', {
    grants: [
      { path: '/', permissions: ['list', 'read', 'write', 'delete', 'mkdir'] },
      // She may see what is here, not read it.
      { path: '/listed', permissions: ['list'] },
      // She may tidy up here (rename, delete, add), not read.
      { path: '/managed', permissions: ['list', 'write', 'delete', 'mkdir'] },
      { path: '/blind', permissions: ['write', 'mkdir'] },
    ],
  });
  token = (await tokenFor(s.t, 'mia')).token;
});
afterAll(async () => s?.close());

describe('a grant without read holds through moves and restores', () => {
  it('the native API: a move out of a folder without read into a readable one is 403 and moves nothing', async () => {
    await plant('/managed/a.bin');
    expect(await readable('/managed/a.bin')).toBe(403);
    const r = await move('/managed/a.bin', '/a.bin');
    expect(r.status).toBe(403);
    const body = (await r.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('FERRY_ERR_FORBIDDEN');
    expect(body.error.message).toMatch(/no 'read' permission on \/managed\/a\.bin.*where it could be read/);
    expect(await readable('/a.bin')).toBe(404);
    // A folder holding it, moved as a whole, is refused the same way.
    await plant('/managed/sub/b.bin');
    expect((await move('/managed/sub', '/sub')).status).toBe(403);
    expect((await as('/api/v1/stat/sub')).status).toBe(404);
    // Moving the folder that holds the unreadable one is no way round it either.
    expect((await as('/api/v1/mkdir/outer', { method: 'POST' })).status).toBe(201);
    expect((await s.t.api('/api/v1/users/mia/grants', { method: 'PUT', json: { path: '/outer/in', permissions: ['list', 'delete'] } })).status).toBe(200);
    await plant('/outer/in/c.bin');
    expect((await move('/outer', '/outer2')).status).toBe(403);
    expect(await readable('/outer/in/c.bin')).toBe(403);
  });

  it('the moves the grants allow still work: a rename inside the folder, and with a token that reads nothing', async () => {
    await plant('/managed/r.bin');
    expect((await move('/managed/r.bin', '/managed/renamed.bin')).status).toBe(200);
    expect((await as('/api/v1/stat/managed/renamed.bin')).status).toBe(200);
    // Into a folder where nothing can be read either.
    expect((await move('/managed/renamed.bin', '/blind/r.bin')).status).toBe(200);
    // A token without the read scope reads nothing anywhere: its moves make nothing readable to it.
    const writer = (await tokenFor(s.t, 'mia', { scopes: ['list', 'write', 'delete'] })).token;
    await plant('/managed/w.bin');
    expect((await s.t.api('/api/v1/move', { method: 'POST', json: { from: '/managed/w.bin', to: '/w.bin' }, token: writer })).status).toBe(200);
    // And an ordinary readable file moves as before.
    expect((await as('/api/v1/files/plain.txt', { method: 'PUT', body: 'plain' })).status).toBe(201);
    expect((await move('/plain.txt', '/plain2.txt')).status).toBe(200);
  });

  it('WebDAV: MOVE out of the folder is 403 and moves nothing', async () => {
    await plant('/managed/d.bin');
    const r = await dav(s.t.url, 'MOVE', '/dav/managed/d.bin', { auth: basic('mia', token), headers: { destination: `${s.t.url}/dav/d.bin` } });
    expect(r.status).toBe(403);
    expect(await readable('/d.bin')).toBe(404);
    expect((await as('/api/v1/stat/managed/d.bin')).status).toBe(200);
    const inside = await dav(s.t.url, 'MOVE', '/dav/managed/d.bin', { auth: basic('mia', token), headers: { destination: `${s.t.url}/dav/managed/d2.bin` } });
    expect(inside.status).toBe(201);
  });

  it('SFTP: a rename out of the folder is refused and moves nothing', async () => {
    await plant('/managed/s.bin');
    const mia = { name: 'mia', key: `${s.dir}/key-mia` };
    const client = await sshClient(s, { username: mia.name, privateKey: await readFile(mia.key) });
    try {
      const sftp = await sftpOf(client);
      const err = await new Promise<(Error & { code?: number }) | undefined>((resolve) => sftp.rename('/managed/s.bin', '/s.bin', (e) => resolve(e ?? undefined)));
      expect(err?.message).toMatch(/Permission denied|no 'read' permission/);
      expect(await readable('/s.bin')).toBe(404);
      const ok = await new Promise<Error | undefined>((resolve) => sftp.rename('/managed/s.bin', '/managed/s2.bin', (e) => resolve(e ?? undefined)));
      expect(ok).toBeUndefined();
    } finally {
      client.end();
    }
  });

  it('the trash: a file deleted from a folder she may only list cannot be restored where she may read it', async () => {
    await plant('/listed/t.bin');
    expect(await readable('/listed/t.bin')).toBe(403);
    expect((await s.t.api('/api/v1/files/users/mia/listed/t.bin', { method: 'DELETE' })).status).toBe(204);
    const trash = (await (await as('/api/v1/trash?path=/listed')).json()) as { entries: { id: number; path: string }[] };
    const entry = trash.entries.find((e) => e.path === '/listed/t.bin');
    expect(entry).toBeDefined();
    const r = await as('/api/v1/trash/restore', { method: 'POST', json: { id: entry!.id, to: '/t.bin' } });
    expect(r.status).toBe(403);
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('FERRY_ERR_FORBIDDEN');
    expect(await readable('/t.bin')).toBe(404);
    // Still in the trash, for whoever may read it.
    const again = (await (await as('/api/v1/trash?path=/listed')).json()) as { entries: { id: number }[] };
    expect(again.entries.map((e) => e.id)).toContain(entry!.id);
    // A file from a readable folder is restored anywhere, as before.
    expect((await as('/api/v1/files/gone.txt', { method: 'PUT', body: 'gone' })).status).toBe(201);
    expect((await as('/api/v1/files/gone.txt', { method: 'DELETE' })).status).toBe(204);
    const mine = (await (await as('/api/v1/trash')).json()) as { entries: { id: number; path: string }[] };
    const gone = mine.entries.find((e) => e.path === '/gone.txt')!;
    expect((await as('/api/v1/trash/restore', { method: 'POST', json: { id: gone.id, to: '/back.txt' } })).status).toBe(200);
    expect(await (await as('/api/v1/files/back.txt')).text()).toBe('gone');
  });

  it('emptying the trash leaves what was deleted from a folder where she may not delete', async () => {
    await plant('/listed/kept.bin');
    expect((await s.t.api('/api/v1/files/users/mia/listed/kept.bin', { method: 'DELETE' })).status).toBe(204);
    expect((await as('/api/v1/files/mine.txt', { method: 'PUT', body: 'mine' })).status).toBe(201);
    expect((await as('/api/v1/files/mine.txt', { method: 'DELETE' })).status).toBe(204);
    const emptied = await as('/api/v1/trash', { method: 'DELETE' });
    expect(emptied.status).toBe(200);
    const left = (await (await s.t.api('/api/v1/trash?path=/users/mia')).json()) as { entries: { path: string }[] };
    const paths = left.entries.map((e) => e.path);
    expect(paths).toContain('/users/mia/listed/kept.bin');
    expect(paths).not.toContain('/users/mia/mine.txt');
    // The admin, who may delete there, empties it: inside Mia's home, so saying allUsers=true.
    expect((await s.t.api('/api/v1/trash?path=/users/mia/listed', { method: 'DELETE' })).status).toBe(400);
    expect((await s.t.api('/api/v1/trash?path=/users/mia/listed&allUsers=true', { method: 'DELETE' })).status).toBe(200);
    const after = (await (await s.t.api('/api/v1/trash?path=/users/mia/listed')).json()) as { entries: unknown[] };
    expect(after.entries).toEqual([]);
  });
});
