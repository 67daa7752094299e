/**
 * A copy makes at most so many files and folders. A copy is by reference (no bytes, and an
 * empty file costs no quota), so copying a folder into a sibling twice doubled it for two
 * requests: 18 requests made 262,144 files, and each copy held the metadata store's writes
 * (every user's uploads) for as long as it took, 36 s and 800 MB of server memory for the
 * 2^17-file copy. Past the limit a copy is refused, through the API and WebDAV, and leaves
 * nothing behind: not a partial copy, and not a WebDAV destination deleted first. Here the
 * limit is lowered to 50 (the server's default is MAX_COPY_ENTRIES).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { addUser, tokenFor } from '../helpers/users.js';

const LIMIT = 50;
let t: TestServer;
let ana: string;

async function copy(from: string, to: string): Promise<{ status: number; code?: string; message?: string }> {
  const res = await t.api('/api/v1/copy', { method: 'POST', json: { from, to }, token: ana });
  const body = (await res.json()) as { error?: { code: string; message: string } };
  return { status: res.status, code: body.error?.code, message: body.error?.message };
}

async function exists(path: string): Promise<boolean> {
  return (await t.api(`/api/v1/stat${path}`, { token: ana })).status === 200;
}

beforeAll(async () => {
  t = await startTestServer({ maxCopyEntries: LIMIT });
  await addUser(t, 'ana');
  ana = (await tokenFor(t, 'ana')).token;
  // An empty file, then folders that double: /d0 holds 1 entry below it, /dN 2^N files.
  expect((await t.api('/api/v1/files/d0/empty', { method: 'PUT', body: '', token: ana })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

describe('a copy of a folder that keeps doubling', () => {
  it('stops at the limit: the copy that would pass it is 413 and makes nothing', async () => {
    let refused: { status: number; code?: string; message?: string } | undefined;
    let level = 0;
    for (; level < 10 && !refused; level++) {
      for (const side of ['a', 'b']) {
        const r = await copy(`/d${level}`, `/d${level + 1}/${side}`);
        if (r.status !== 200) {
          refused = r;
          break;
        }
      }
    }
    // /d4 is 47 entries with itself (16 files, 31 folders); /d5, 95: its copy is refused.
    expect(refused).toMatchObject({ status: 413, code: 'FERRY_ERR_PAYLOAD_TOO_LARGE' });
    expect(refused!.message).toContain(`more than ${LIMIT} files and folders`);
    expect(level).toBe(6);
    expect(await exists('/d6/a')).toBe(false);
    expect(await exists('/d6')).toBe(false);
    // A folder within the limit still copies, whole.
    expect((await copy('/d4', '/d4copy')).status).toBe(200);
    const listing = (await (await t.api('/api/v1/list/d4copy?recursive=1', { token: ana })).json()) as { entries: Array<{ type: string }> };
    expect(listing.entries.filter((e) => e.type === 'file')).toHaveLength(16);
  });

  it('refuses a WebDAV COPY past the limit before it deletes the destination it would replace', async () => {
    const dav = (method: string, path: string, headers: Record<string, string> = {}) =>
      fetch(`${t.url}/dav${path}`, { method, headers: { authorization: `Basic ${Buffer.from(`ana:${ana}`).toString('base64')}`, ...headers } });
    expect((await dav('MKCOL', '/keep')).status).toBe(201);
    expect((await dav('PUT', '/keep/precious.txt')).status).toBe(201);
    const res = await dav('COPY', '/d5', { destination: `${t.url}/dav/keep`, overwrite: 'T' });
    expect(res.status).toBe(413);
    expect(await exists('/keep/precious.txt')).toBe(true);
    // Within the limit, the same COPY replaces it.
    expect((await dav('COPY', '/d4', { destination: `${t.url}/dav/keep`, overwrite: 'T' })).status).toBe(204);
    expect(await exists('/keep/precious.txt')).toBe(false);
    expect(await exists('/keep/a/a/a/a/empty')).toBe(true);
  });
});
