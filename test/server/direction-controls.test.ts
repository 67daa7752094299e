/**
 * Names with Unicode direction controls. `invoice\u202efdp.exe` (U+202E, right-to-left
 * override) shows as `invoiceexe.pdf` in a browser, a file manager or a terminal: a program
 * passed off as a document, to the owner of a drop box by an anonymous visitor, or to the
 * users of a shared folder. The server refuses to make such a name, through every door (HTTP,
 * WebDAV, tus, SFTP), with 400 FERRY_ERR_PATH_INVALID over HTTP; right-to-left names, with
 * the marks U+200E and U+200F, are names like any other.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedShare } from '../../src/core/protocol.js';
import { encodePathForUrl } from '../../src/core/protocol.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { sftpBatch, sshUser, startSftpServer } from '../helpers/sftp.js';

const SPOOF = 'invoice\u202efdp.exe';
const ISOLATE = 'a\u2067b.txt';
const HEBREW = '\u05d3\u05d5\u05d7 \u200f2026.txt';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  expect((await t.api('/api/v1/files/plain.txt', { method: 'PUT', body: 'plain' })).status).toBe(201);
  expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

async function expectRefused(res: Response, what: string, char = 'U+202E'): Promise<void> {
  const text = await res.text();
  expect(res.status, `${what}: ${text}`).toBe(400);
  const body = JSON.parse(text) as { error: { code: string; message: string; details: Record<string, string> } };
  expect(body.error.code).toBe('FERRY_ERR_PATH_INVALID');
  expect(body.error.details).toMatchObject({ reason: 'direction control', char });
  // The message names it as written, not as it would show.
  expect(body.error.message).not.toMatch(/[\u202a-\u202e\u2066-\u2069]/);
  expect(body.error.message).toContain('which makes it show as another name');
}

async function names(dir: string): Promise<string[]> {
  const res = await t.api(`/api/v1/list${encodePathForUrl(dir)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: Array<{ name: string }> }).entries.map((e) => e.name).sort();
}

describe('names with direction controls', () => {
  it('are refused by uploads (one request, a form, an upload session), mkdir, move and copy', async () => {
    await expectRefused(await t.api(`/api/v1/files${encodePathForUrl('/' + SPOOF)}`, { method: 'PUT', body: 'MZ' }), 'PUT');
    const form = new FormData();
    form.append('file', new Blob(['MZ']), SPOOF);
    await expectRefused(await t.api('/api/v1/files/inbox/', { method: 'POST', body: form }), 'form');
    await expectRefused(await uploadBuffer(t, '/' + SPOOF, Buffer.from('MZ')), 'upload session');
    await expectRefused(await uploadBuffer(t, `/${SPOOF}/inner.txt`, Buffer.from('x')), 'a directory made on the way');
    await expectRefused(await t.api(`/api/v1/mkdir${encodePathForUrl('/' + ISOLATE)}`, { method: 'POST' }), 'mkdir', 'U+2067');
    await expectRefused(await t.api('/api/v1/move', { method: 'POST', json: { from: '/plain.txt', to: '/' + SPOOF } }), 'move');
    await expectRefused(await t.api('/api/v1/copy', { method: 'POST', json: { from: '/plain.txt', to: '/' + SPOOF } }), 'copy');
    expect(await names('/')).toEqual(['inbox', 'plain.txt']);
    expect(await names('/inbox')).toEqual([]);
  });

  it('are refused over WebDAV and tus', async () => {
    await expectRefused(await t.api(`/dav${encodePathForUrl('/' + SPOOF)}`, { method: 'PUT', body: 'MZ' }), 'WebDAV PUT');
    await expectRefused(await t.api(`/dav${encodePathForUrl('/' + ISOLATE)}`, { method: 'MKCOL' }), 'WebDAV MKCOL', 'U+2067');
    const tus = await t.api('/api/v1/tus', {
      method: 'POST',
      headers: { 'tus-resumable': '1.0.0', 'upload-length': '2', 'upload-metadata': `filename ${Buffer.from(SPOOF).toString('base64')}`, 'content-type': 'application/offset+octet-stream' },
      body: 'MZ',
    });
    await expectRefused(tus, 'tus');
    expect(await names('/')).toEqual(['inbox', 'plain.txt']);
  });

  it("are refused to a drop box's anonymous visitors", async () => {
    const res = await t.api('/api/v1/shares', { method: 'POST', json: { path: '/inbox', kind: 'upload' } });
    const link = (await res.json()) as CreatedShare;
    await expectRefused(await fetch(`${link.url}/${encodeURIComponent(SPOOF)}`, { method: 'PUT', body: 'MZ' }), 'drop box');
    expect(await names('/inbox')).toEqual([]);
  });

  it('are refused over SFTP (OpenSSH put, mkdir, rename)', async () => {
    const s = await startSftpServer();
    try {
      const ana = await sshUser(s, 'ana');
      await writeFile(join(s.dir, 'doc.txt'), 'MZ');
      expect((await sftpBatch(s, ana, ['put doc.txt doc.txt'], [], s.dir)).code).toBe(0);
      for (const cmd of [`put doc.txt "${SPOOF}"`, `mkdir "${ISOLATE}"`, `rename doc.txt "${SPOOF}"`]) {
        const r = await sftpBatch(s, ana, [cmd], [], s.dir);
        expect(r.code, cmd).not.toBe(0);
      }
      const listed = await s.t.api('/api/v1/list/users/ana');
      expect(((await listed.json()) as { entries: Array<{ name: string }> }).entries.map((e) => e.name)).toEqual(['doc.txt']);
    } finally {
      await s.close();
    }
  });

  it('leave right-to-left names alone, with their marks', async () => {
    expect((await t.api(`/api/v1/files${encodePathForUrl('/' + HEBREW)}`, { method: 'PUT', body: 'ok' })).status).toBe(201);
    expect(await names('/')).toContain(HEBREW);
  });
});
