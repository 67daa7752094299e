/**
 * What the server tells a caller in words and figures: errors name the caller's own paths
 * (home-relative, as answers do), `GET /me` lists the scopes the credential can really use,
 * and a quota refusal gives the file's real size.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import type { MeResponse, WebSession } from '../../src/core/protocol.js';
import { tempDir, writeRandomFile } from '../helpers/files.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;
let ana: string;
beforeAll(async () => {
  t = await startTestServer();
  await addUser(t, 'ana', { password: 'ana-password-123' });
  ana = (await tokenFor(t, 'ana')).token;
});
afterAll(async () => t?.close());

async function errorOf(res: Response): Promise<{ status: number; code: string; message: string; details?: Record<string, unknown> }> {
  const body = (await res.json()) as { error: { code: string; message: string; details?: Record<string, unknown> } };
  return { status: res.status, ...body.error };
}

describe('errors name the caller’s paths, not the server’s', () => {
  it('not found, not a directory, already exists: home-relative in the message and the details', async () => {
    const missing = await errorOf(await t.api('/api/v1/stat/missing/file.txt', { token: ana }));
    expect(missing).toMatchObject({ status: 404, code: 'FERRY_ERR_NOT_FOUND' });
    expect(missing.message).toContain('/missing/file.txt');
    expect(JSON.stringify(missing)).not.toContain('/users/ana');

    expect((await uploadBuffer(t, '/f', Buffer.from('a file'), 1024, { token: ana })).status).toBe(200);
    const below = await errorOf(await t.api('/api/v1/mkdir/f/sub?parents=true', { method: 'POST', token: ana }));
    expect(below).toMatchObject({ status: 409, code: 'FERRY_ERR_NOT_A_DIRECTORY' });
    expect(below.message).toMatch(/^\/f: /);
    expect(JSON.stringify(below)).not.toContain('/users/ana');

    const exists = await errorOf(await t.api('/api/v1/mkdir/f', { method: 'POST', token: ana }));
    expect(exists).toMatchObject({ status: 409, code: 'FERRY_ERR_ALREADY_EXISTS', details: { path: '/f' } });
    expect(exists.message).toBe('/f: a file exists there');
  });

  it('the admin (home /) reads server paths, as before', async () => {
    const missing = await errorOf(await t.api('/api/v1/stat/users/ana/nope'));
    expect(missing.message).toContain('/users/ana/nope');
  });
});

describe('a sign-in with an API token as the password', () => {
  it('says that a token is not a password and what to do, for any user name, known or not; a wrong password says only that', async () => {
    const said = async (route: string, user: string, password: string) => errorOf(await t.api(route, { method: 'POST', json: { user, password }, token: null }));
    for (const route of ['/api/v1/auth/session', '/api/v1/auth/login']) {
      for (const user of ['admin', 'ana', 'nobody-here']) {
        const e = await said(route, user, ana);
        expect(e, `${route} ${user}`).toMatchObject({ status: 401, code: 'FERRY_ERR_AUTH_INVALID' });
        expect(e.message).toBe(
          'wrong user name or password: that password is an API token (ferry_…), which never signs in with a user name; make the user a password with ferry user add NAME --password (or ferry user passwd NAME), or log the command line in with ferry login URL --token -',
        );
      }
      expect(await said(route, 'ana', 'not-her-password')).toMatchObject({ status: 401, message: 'wrong user name or password' });
      expect(await said(route, 'ana', `${ana}x`)).toMatchObject({ status: 401, message: 'wrong user name or password' });
    }
  });
});

describe('GET /me', () => {
  const session = async (user: string, password: string): Promise<string> => {
    const res = await t.api('/api/v1/auth/session', { method: 'POST', json: { user, password }, token: null });
    expect(res.status).toBe(201);
    return ((await res.json()) as WebSession).accessToken;
  };

  it('a web session of a user who is not an admin does not list the admin scope', async () => {
    const me = (await (await t.api('/api/v1/me', { token: await session('ana', 'ana-password-123') })).json()) as MeResponse;
    expect(me.scopes).not.toContain('admin');
    expect(me.scopes).toEqual(['list', 'read', 'write', 'delete', 'mkdir', 'share']);
    const token = (await (await t.api('/api/v1/me', { token: ana })).json()) as MeResponse;
    expect(token.scopes).not.toContain('admin');
  });

  it("an admin's does", async () => {
    await addUser(t, 'root2', { password: 'root2-password-1', role: 'admin' });
    const me = (await (await t.api('/api/v1/me', { token: await session('root2', 'root2-password-1') })).json()) as MeResponse;
    expect(me.scopes).toContain('admin');
  });
});

describe('quota refusals', () => {
  it('give the real size of a large file, at once, before any chunk is sent', async () => {
    await addUser(t, 'quin', { quotaBytes: 1024 * 1024 });
    const client = new FerryClient({ server: t.url, token: (await tokenFor(t, 'quin')).token });
    const tmp = await tempDir();
    try {
      const src = join(tmp.path, 'big.bin');
      await writeRandomFile(src, 64 * 1024 * 1024);
      const err = await client.putFile(src, '/big.bin').catch((e: unknown) => e);
      expect(isFerryError(err, 'FERRY_ERR_QUOTA_EXCEEDED')).toBe(true);
      expect((err as Error).message).toBe('quota exceeded: /big.bin (64.0 MiB) would bring the usage to 64.0 MiB, over the quota of 1.00 MiB (0 B used now)');
      const stats = (await (await t.api('/api/v1/admin/stats')).json()) as { uploads: number };
      expect(stats.uploads).toBe(0); // refused at creation: no session, nothing sent
    } finally {
      await client.close();
      await tmp.cleanup();
    }
  });
});
