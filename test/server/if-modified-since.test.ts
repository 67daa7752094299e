/**
 * If-Modified-Since on downloads, as `curl -z FILE` (and `wget -N`) send it: a download whose
 * Last-Modified is the local copy's time is 304, without a body, on the native API, a share
 * link and WebDAV; a copy of another time (older or newer) downloads the file, and so does an
 * If-None-Match that does not match whatever If-Modified-Since says (it decides).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/in-process-server.js';
import { ensureCommand } from '../helpers/local-trees.js';
import { addUser, share, tokenFor } from '../helpers/users.js';

let t: TestServer;
let dir: string;
let token: string;
/** The stored file's time: 2024-03-04 05:06:07.890 UTC (Last-Modified drops the milliseconds). */
const MTIME = Date.UTC(2024, 2, 4, 5, 6, 7, 890);

beforeAll(async () => {
  expect(ensureCommand('curl'), 'curl (Debian package) is needed').toBe(true);
  t = await startTestServer();
  await addUser(t, 'ida', { password: 'ida-password-1' });
  token = (await tokenFor(t, 'ida')).token;
  dir = await mkdtemp(join(tmpdir(), 'ferry-ims-'));
  await writeFile(join(dir, 'up.txt'), 'stored content');
  const put = await t.api(`/api/v1/files/doc.txt?mtime=${MTIME}`, { method: 'PUT', body: 'stored content', token });
  expect(put.status).toBeLessThan(300);
});
afterAll(async () => {
  await t?.close();
  await rm(dir, { recursive: true, force: true });
});

/** `curl -z local -o local`: the status, and what the local file holds afterwards. */
function curlNewer(url: string, local: string, extra: string[] = []): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    execFile('curl', ['-sS', '-w', '%{http_code}', '-z', local, '-o', local, ...extra, url], { cwd: dir }, async (err, stdout) => {
      if (err) return reject(err);
      resolve({ status: Number(stdout), body: await readFile(local, 'utf8') });
    });
  });
}

/** A local copy holding `body`, with the modification time `ms`. */
async function localCopy(name: string, body: string, ms: number): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, body);
  await utimes(file, ms / 1000, ms / 1000);
  return file;
}

describe('If-Modified-Since (curl -z)', () => {
  it('is 304 for a copy of the time Last-Modified said, on the API, a share link and WebDAV; other times download', async () => {
    const link = await share(t, token, { path: '/doc.txt' });
    const api = ['-H', `authorization: Bearer ${token}`];
    const dav = ['-u', 'ida:ida-password-1'];
    const asked = (url: string, headers: Record<string, string>) => t.api(url.replace(t.url, ''), { token: url === link.url ? null : token, headers });
    for (const [name, url, extra] of [['api', `${t.url}/api/v1/files/doc.txt`, api], ['share', link.url, []], ['dav', `${t.url}/dav/doc.txt`, dav]] as const) {
      const first = await curlNewer(url, await localCopy(`${name}.txt`, 'stale', 0), [...extra]);
      expect(first, name).toEqual({ status: 200, body: 'stored content' });
      expect((await asked(url, {})).headers.get('last-modified'), name).toBe(new Date(MTIME).toUTCString());

      // The same second as Last-Modified (curl sends the local file's time): nothing comes, the copy stays.
      const current = await curlNewer(url, await localCopy(`${name}.txt`, 'local copy', MTIME), [...extra]);
      expect(current, name).toEqual({ status: 304, body: 'local copy' });
      // (curl says 304 also when it dropped an answer it judged not newer: the server's own answer.)
      const exact = await asked(url, { 'if-modified-since': new Date(MTIME).toUTCString() });
      expect(exact.status, name).toBe(304);
      expect(await exact.text()).toBe('');
      // A copy a second older than the file downloads it.
      const older = await curlNewer(url, await localCopy(`${name}.txt`, 'older copy', MTIME - 1000), [...extra]);
      expect(older, name).toEqual({ status: 200, body: 'stored content' });
      // So does one a second newer (times may go back: an older version restored). curl
      // keeps its copy whenever Last-Modified is not newer than it, whatever the server
      // answers, so these ask directly.
      const newer = await asked(url, { 'if-modified-since': new Date(MTIME + 1000).toUTCString() });
      expect(newer.status, name).toBe(200);
      expect(await newer.text()).toBe('stored content');
      // An If-None-Match that does not match decides: the file comes whatever the date says.
      const tagged = await asked(url, { 'if-modified-since': new Date(MTIME).toUTCString(), 'if-none-match': '"not-this-one"' });
      expect(tagged.status, name).toBe(200);
    }
    // A date that is not one is ignored.
    const bad = await t.api('/api/v1/files/doc.txt', { token, headers: { 'if-modified-since': 'yesterday' } });
    expect(bad.status).toBe(200);
  });
});
