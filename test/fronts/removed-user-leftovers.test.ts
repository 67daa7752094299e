/**
 * What a removed user leaves on the fronts: a WebDAV lock they took (curl's LOCK; cadaver's
 * and davfs2's stay too when the client goes away) and a tus upload in progress. Neither may
 * outlive the user: the lock would refuse writes to what was their file (an admin's, or a
 * new account of the same name's) until it timed out, and the upload's row and its tail in
 * the chunk store would stay until the upload expired.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser, tokenFor } from '../helpers/users.js';

let t: TestServer;

beforeAll(async () => {
  expect(ensureCommand('curl'), 'curl (Debian package) is needed').toBe(true);
  t = await startTestServer();
});
afterAll(async () => t?.close());

/** curl as `user` against the WebDAV share; resolves with the status and body. */
function curl(user: string, args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-u', `${user}:${user}-password-1`, '-w', '\n%{http_code}', ...args], (err, stdout) => {
      if (err) return reject(err);
      const at = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) });
    });
  });
}

const LOCKINFO = '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>';

/** The tus tail objects (files) in the local chunk store, as `<id>/<offset>`. */
async function tusObjects(): Promise<string[]> {
  const root = join(t.dataDir, 'store', 'tus');
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => relative(root, join(e.parentPath, e.name)));
}

describe('removing a user', () => {
  it('takes their WebDAV locks: a new account of the same name writes the file at once', async () => {
    await addUser(t, 'zed', { password: 'zed-password-1' });
    const url = `${t.url}/dav/locked.txt`;
    expect((await curl('zed', ['-T', '/dev/null', url])).status).toBe(201);
    const lock = await curl('zed', ['-X', 'LOCK', '-H', 'Timeout: Second-3600', '-H', 'Content-Type: application/xml', '--data', LOCKINFO, url]);
    expect(lock.status).toBe(200);
    expect((await curl('zed', ['-X', 'PUT', '--data', 'without the token', url])).status).toBe(423);

    expect((await t.api('/api/v1/users/zed', { method: 'DELETE' })).status).toBe(204);
    await addUser(t, 'zed', { password: 'zed-password-1' });
    expect((await curl('zed', ['-X', 'PUT', '--data', 'the new zed', url])).status).toBe(204);
    expect(await (await t.api('/api/v1/files/users/zed/locked.txt')).text()).toBe('the new zed');
    expect((await t.api('/api/v1/users/zed', { method: 'DELETE' })).status).toBe(204);
  });

  it('takes their tus uploads in progress, rows and tails', async () => {
    await addUser(t, 'tia', { password: 'tia-password-1' });
    const token = (await tokenFor(t, 'tia')).token;
    const headers = { 'tus-resumable': '1.0.0', authorization: `Bearer ${token}` };
    // 5 bytes of 1000: less than a chunk, kept as the upload's tail.
    const made = await fetch(`${t.url}/api/v1/tus/`, { method: 'POST', headers: { ...headers, 'upload-length': '1000', 'upload-metadata': `filename ${Buffer.from('t.bin').toString('base64')}`, 'content-type': 'application/offset+octet-stream' }, body: 'hello' });
    expect(made.status).toBe(201);
    const id = made.headers.get('location')!.split('/').pop()!;
    expect(made.headers.get('upload-offset')).toBe('5');
    expect((await tusObjects()).some((p) => p.startsWith(id)), 'the tail is stored').toBe(true);
    const before = (await (await t.api('/api/v1/admin/uploads')).json()) as { uploads?: { id: string }[] } | { id: string }[];
    expect(JSON.stringify(before)).toContain(id);

    expect((await t.api('/api/v1/users/tia', { method: 'DELETE' })).status).toBe(204);
    expect((await tusObjects()).some((p) => p.startsWith(id)), 'the tail is gone').toBe(false);
    expect(JSON.stringify(await (await t.api('/api/v1/admin/uploads')).json())).not.toContain(id);
    expect(await t.server.ctx.tus['store'].get(id)).toBeUndefined();
  });
});
