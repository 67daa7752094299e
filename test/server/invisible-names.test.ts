/**
 * Names with invisible characters (the twelfth security round, part two). `a\u200b.txt`
 * (a zero-width space), `a\ufeff.txt`, `a\u2060.txt`, `a\u00ad.txt` all show as `a.txt`:
 * one folder held five files that looked the same, and a file whose whole name was U+200B
 * showed as no name at all. No Unicode normal form maps them together, so the look-alike
 * rule (`café` composed and decomposed) let them through. Look-alikes are now compared
 * without invisible characters, through every door (HTTP, WebDAV, tus, SFTP, drop boxes):
 * the second name is `409 FERRY_ERR_ALREADY_EXISTS`, a name of invisible characters only
 * `400 FERRY_ERR_PATH_INVALID`. A name holding one with no look-alike beside it is a name
 * (copied titles hold soft hyphens and zero-width spaces), and so are the joiners that
 * scripts and emoji need (U+200C, U+200D) and variation selectors.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreatedShare } from '../../src/core/protocol.js';
import { encodePathForUrl } from '../../src/core/protocol.js';
import { startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';
import { sftpBatch, sshUser, startSftpServer } from '../helpers/sftp.js';

const ZWSP = 'a\u200b.txt';
const LOOK_ALIKES = [ZWSP, 'a\ufeff.txt', 'a\u2060.txt', 'a\u00ad.txt', '\u3164a.txt'];
// A family emoji (joined by U+200D), a Persian word with U+200C, a heart with its variation selector.
const LEGIT = ['\u{1f468}\u200d\u{1f469}\u200d\u{1f467}.jpg', '\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645.txt', '\u2764\ufe0f.txt', 'soft\u00adhyphen.txt'];

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
  expect((await t.api('/api/v1/files/a.txt', { method: 'PUT', body: 'plain' })).status).toBe(201);
  expect((await t.api('/api/v1/mkdir/inbox', { method: 'POST' })).status).toBe(201);
});
afterAll(async () => {
  await t?.close();
});

async function expectLookAlike(res: Response, what: string): Promise<void> {
  const text = await res.text();
  expect(res.status, `${what}: ${text}`).toBe(409);
  const body = JSON.parse(text) as { error: { code: string; message: string; details: Record<string, string> } };
  expect(body.error.code).toBe('FERRY_ERR_ALREADY_EXISTS');
  expect(body.error.details).toMatchObject({ reason: 'look-alike' });
  // The message writes the characters out, so that a person sees what differs.
  expect(body.error.message).toMatch(/\\u[0-9a-f]{4}/);
  expect(body.error.message).toContain('differs only by invisible characters');
}

async function names(dir: string): Promise<string[]> {
  const res = await t.api(`/api/v1/list${encodePathForUrl(dir)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: Array<{ name: string }> }).entries.map((e) => e.name).sort();
}

describe('names with invisible characters', () => {
  it('beside their look-alike are refused: uploads, a directory made on the way, mkdir, move and copy', async () => {
    for (const name of LOOK_ALIKES) await expectLookAlike(await t.api(`/api/v1/files${encodePathForUrl('/' + name)}`, { method: 'PUT', body: 'x' }), `PUT ${JSON.stringify(name)}`);
    await expectLookAlike(await uploadBuffer(t, '/' + ZWSP, Buffer.from('x')), 'upload session');
    expect((await t.api('/api/v1/mkdir/docs', { method: 'POST' })).status).toBe(201);
    await expectLookAlike(await uploadBuffer(t, '/docs\u200b/inner.txt', Buffer.from('x')), 'a directory made on the way');
    await expectLookAlike(await t.api(`/api/v1/mkdir${encodePathForUrl('/docs\ufeff')}`, { method: 'POST' }), 'mkdir');
    await expectLookAlike(await t.api('/api/v1/move', { method: 'POST', json: { from: '/docs', to: '/a\u2060.txt' } }), 'move');
    await expectLookAlike(await t.api('/api/v1/copy', { method: 'POST', json: { from: '/docs', to: '/' + ZWSP } }), 'copy');
    expect(await names('/')).toEqual(['a.txt', 'docs', 'inbox']);
  });

  it('refuse the plain name beside one with an invisible character, and a name that is all invisible', async () => {
    expect((await t.api(`/api/v1/files${encodePathForUrl('/b\u200b.txt')}`, { method: 'PUT', body: 'x' })).status).toBe(201);
    await expectLookAlike(await t.api('/api/v1/files/b.txt', { method: 'PUT', body: 'x' }), 'PUT b.txt');
    await expectLookAlike(await t.api(`/api/v1/files${encodePathForUrl('/b\u2060.txt')}`, { method: 'PUT', body: 'x' }), 'PUT b with a word joiner');
    // Renaming it to another form of its own name is allowed, as for `café`.
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: '/b\u200b.txt', to: '/b.txt' } })).status).toBe(200);
    const res = await t.api(`/api/v1/files${encodePathForUrl('/\u200b\ufeff')}`, { method: 'PUT', body: 'x' });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; message: string; details: Record<string, string> } };
    expect(body.error.code).toBe('FERRY_ERR_PATH_INVALID');
    expect(body.error.details).toMatchObject({ reason: 'invisible name' });
    expect(body.error.message).toContain('"\\u200b\\ufeff"');
  });

  it('beside their look-alike are refused over WebDAV and tus; a drop box numbers the visitor’s', async () => {
    await expectLookAlike(await t.api(`/dav${encodePathForUrl('/' + ZWSP)}`, { method: 'PUT', body: 'x' }), 'WebDAV PUT');
    await expectLookAlike(await t.api(`/dav${encodePathForUrl('/docs\u200b')}`, { method: 'MKCOL' }), 'WebDAV MKCOL');
    const tus = await t.api('/api/v1/tus', {
      method: 'POST',
      headers: { 'tus-resumable': '1.0.0', 'upload-length': '1', 'upload-metadata': `filename ${Buffer.from(ZWSP).toString('base64')}`, 'content-type': 'application/offset+octet-stream' },
      body: 'x',
    });
    await expectLookAlike(tus, 'tus');
    expect((await t.api('/api/v1/files/inbox/report.pdf', { method: 'PUT', body: 'owner' })).status).toBe(201);
    const link = (await (await t.api('/api/v1/shares', { method: 'POST', json: { path: '/inbox', kind: 'upload' } })).json()) as CreatedShare;
    const dropped = await fetch(`${link.url}/${encodeURIComponent('report\u200b.pdf')}`, { method: 'PUT', body: 'visitor' });
    expect(dropped.status).toBe(201);
    expect(await names('/inbox')).toEqual(['report.pdf', 'report\u200b (1).pdf']);
    expect(await names('/')).toEqual(['a.txt', 'b.txt', 'docs', 'inbox']);
  });

  it('beside their look-alike are refused over SFTP (OpenSSH put, mkdir, rename)', async () => {
    const s = await startSftpServer();
    try {
      const ana = await sshUser(s, 'ana');
      await writeFile(join(s.dir, 'doc.txt'), 'x');
      expect((await sftpBatch(s, ana, ['put doc.txt doc.txt', 'put doc.txt other.txt'], [], s.dir)).code).toBe(0);
      for (const cmd of [`put doc.txt "doc\u200b.txt"`, `mkdir "doc\ufeff.txt"`, `rename other.txt "doc\u2060.txt"`]) {
        const r = await sftpBatch(s, ana, [cmd], [], s.dir);
        expect(r.code, cmd).not.toBe(0);
      }
      const listed = await s.t.api('/api/v1/list/users/ana');
      expect(((await listed.json()) as { entries: Array<{ name: string }> }).entries.map((e) => e.name).sort()).toEqual(['doc.txt', 'other.txt']);
    } finally {
      await s.close();
    }
  });

  it('alone, and the joiners of emoji and scripts and variation selectors, are names like any other', async () => {
    for (const name of LEGIT) expect((await t.api(`/api/v1/files${encodePathForUrl('/' + name)}`, { method: 'PUT', body: 'ok' })).status, name).toBe(201);
    expect(await names('/')).toEqual(expect.arrayContaining(LEGIT));
  });
});

describe('a name with an invisible character stored before', () => {
  it('is found as the look-alike of a new plain name once the database is upgraded (migration 0029)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'ferry-invisible-'));
    try {
      const first = await startTestServer({ dataDir });
      expect((await first.api(`/api/v1/files${encodePathForUrl('/c\u200b.txt')}`, { method: 'PUT', body: 'old' })).status).toBe(201);
      await first.server.close();
      // What the version before left: the NFC form, invisible character kept, and no 0029.
      const old = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(join(dataDir, 'meta.db')) }) });
      await old.updateTable('files').set({ name_fold: 'c\u200b.txt' }).where('name', '=', 'c\u200b.txt').execute();
      await old.schema.dropIndex('shares_made_with').execute(); // and 0030 after it, which the migrator would not run 0029 before
      await old.schema.alterTable('shares').dropColumn('made_with').execute();
      await old.deleteFrom('kysely_migration').where('name', '>=', '0029-name-fold-invisible').execute();
      await old.destroy();
      const again = await startTestServer({ dataDir });
      try {
        expect(again.server.ctx.meta.migrationsRun).toEqual(['0029-name-fold-invisible', '0030-share-made-with']);
        await expectLookAlike(await again.api('/api/v1/files/c.txt', { method: 'PUT', body: 'new' }), 'PUT c.txt after the upgrade');
      } finally {
        await again.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
