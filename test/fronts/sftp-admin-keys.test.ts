/**
 * An admin's token narrowed to a path prefix, or to fewer permissions than the admin holds,
 * cannot add (or remove) an SSH key of the admin's own: such a key logs in over SFTP with
 * every permission over every home, so a token limited to `/pub` and to reading turned
 * itself into the whole server (security audit, tenth round). A full admin token still can.
 */
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SshKeyInfo } from '../../src/core/protocol.js';
import { addUser, tokenFor } from '../helpers/users.js';
import { newKey, sftpBatch, startSftpServer, type SftpServer, type SshUser } from '../helpers/sftp.js';

let s: SftpServer;

beforeAll(async () => {
  s = await startSftpServer();
  await addUser(s.t, 'ada', { role: 'admin', home: '/' });
  await addUser(s.t, 'nell');
  const nell = await tokenFor(s.t, 'nell');
  const put = await s.t.api('/api/v1/files/private.txt', { method: 'PUT', body: 'nell only', token: nell.token });
  expect(put.status, await put.clone().text()).toBe(201);
});
afterAll(async () => s?.close());

async function addKey(user: string, publicKey: string, token?: string): Promise<Response> {
  return s.t.api(`/api/v1/users/${user}/keys`, { method: 'POST', json: { keys: publicKey }, token });
}

async function keysOf(user: string): Promise<SshKeyInfo[]> {
  return (await (await s.t.api(`/api/v1/users/${user}/keys`)).json()) as SshKeyInfo[];
}

describe("an admin's own SSH keys", () => {
  it('are refused to a token narrowed to a prefix or to fewer permissions, and that key logs nobody in', async () => {
    const key: SshUser = { name: 'ada', ...(await newKey(s, 'ada-narrow')) };
    const prefixed = await tokenFor(s.t, 'ada', { pathPrefix: '/pub', scopes: ['list', 'read', 'admin'] });
    const readOnly = await tokenFor(s.t, 'ada', { scopes: ['list', 'read', 'admin'] });
    for (const token of [prefixed.token, readOnly.token]) {
      const r = await addKey('ada', key.publicKey, token);
      expect(r.status, await r.clone().text()).toBe(403);
      expect(((await r.json()) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'FERRY_ERR_FORBIDDEN', message: expect.stringMatching(/all of your permissions and no path prefix/) });
    }
    expect(await keysOf('ada')).toEqual([]);
    const refused = await sftpBatch(s, key, ['ls /users/nell']);
    expect(refused.code).toBe(255);
    expect(refused.stderr).toMatch(/Permission denied \(publickey\)/);
  });

  it("are added by a full admin token, whose key then reads every home (what the narrowed token would have had)", async () => {
    const key: SshUser = { name: 'ada', ...(await newKey(s, 'ada-full')) };
    const full = await tokenFor(s.t, 'ada');
    const r = await addKey('ada', key.publicKey, full.token);
    expect(r.status, await r.clone().text()).toBe(201);
    const got = await sftpBatch(s, key, ['get /users/nell/private.txt got.txt'], [], s.dir);
    expect(got.code, got.stderr).toBe(0);
    expect(await readFile(`${s.dir}/got.txt`, 'utf8')).toBe('nell only');

    // Removing it takes the same credential.
    const narrowed = await tokenFor(s.t, 'ada', { pathPrefix: '/pub', scopes: ['list', 'read', 'admin'] });
    const id = ((await r.json()) as SshKeyInfo[])[0].id;
    expect((await s.t.api(`/api/v1/users/ada/keys/${id}`, { method: 'DELETE', token: narrowed.token })).status).toBe(403);
    expect((await s.t.api(`/api/v1/users/ada/keys/${id}`, { method: 'DELETE', token: full.token })).status).toBe(204);
  });

  it("another user's keys still take an admin token without a prefix", async () => {
    const key = await newKey(s, 'nell-by-admin');
    const prefixed = await tokenFor(s.t, 'ada', { pathPrefix: '/pub', scopes: ['list', 'read', 'admin'] });
    expect((await addKey('nell', key.publicKey, prefixed.token)).status).toBe(403);
    expect((await addKey('nell', key.publicKey)).status).toBe(201);
  });
});
