/**
 * Look-alike names: `café.txt` composed (NFC, U+00E9) and decomposed (NFD, e + U+0301)
 * render the same and collide on file systems that normalize. Ferry keeps names byte for
 * byte and a directory holds one of the two: whatever makes the second (upload, batch
 * upload, mkdir, move, copy, a directory made on the way) is refused with 409
 * FERRY_ERR_ALREADY_EXISTS, in either order. Also the schema migration of a store that
 * already holds both.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kysely, Migrator, SqliteDialect } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryClient } from '../../src/client/client.js';
import { isFerryError } from '../../src/core/errors.js';
import { fileHashOf } from '../../src/core/manifest.js';
import { encodePathForUrl } from '../../src/core/protocol.js';
import { migrationProvider } from '../../src/store/migrations.js';
import { MetaStore } from '../../src/store/meta-store.js';
import { tempDir } from '../helpers/files.js';
import { pieces, startTestServer, uploadBuffer, type TestServer } from '../helpers/in-process-server.js';

const NFC = 'caf\u00e9.txt';
const NFD = 'cafe\u0301.txt';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t.close();
});

async function expectLookAlike(res: Response, path: string, existing: string): Promise<void> {
  const body = (await res.json()) as { error: { code: string; message: string; details: Record<string, string> } };
  expect({ status: res.status, code: body.error.code }).toEqual({ status: 409, code: 'FERRY_ERR_ALREADY_EXISTS' });
  expect(body.error.details).toMatchObject({ path, existing, reason: 'look-alike' });
  expect(body.error.message).toMatch(/differs only in its Unicode form \((NFC|NFD|neither NFC nor NFD) vs (NFC|NFD|neither NFC nor NFD)\)/);
}

async function names(dir: string): Promise<string[]> {
  const res = await t.api(`/api/v1/list${encodePathForUrl(dir)}`);
  expect(res.status).toBe(200);
  return ((await res.json()) as { entries: Array<{ name: string }> }).entries.map((e) => e.name).sort();
}

const bytesOf = async (path: string): Promise<string> => (await t.api(`/api/v1/files${encodePathForUrl(path)}`)).text();

describe('café.txt in both Unicode forms', () => {
  it('NFC first: the NFD upload is refused and the NFC file is untouched', () => check('/a', NFC, NFD));
  it('NFD first: the NFC upload is refused and the NFD file is untouched', () => check('/b', NFD, NFC));

  async function check(dir: string, first: string, second: string): Promise<void> {
    expect(NFC.normalize('NFD')).toBe(NFD);
    expect((await uploadBuffer(t, `${dir}/${first}`, Buffer.from('first'))).status).toBe(200);
    await expectLookAlike(await uploadBuffer(t, `${dir}/${second}`, Buffer.from('second')), `${dir}/${second}`, `${dir}/${first}`);
    expect(await names(dir)).toEqual([first]);
    expect(await bytesOf(`${dir}/${first}`)).toBe('first');
    // The same name again is an ordinary overwrite.
    expect((await uploadBuffer(t, `${dir}/${first}`, Buffer.from('again'))).status).toBe(200);
    expect(await bytesOf(`${dir}/${first}`)).toBe('again');
  }

  it('mkdir, a directory made on the way, move and copy refuse a look-alike too', async () => {
    expect((await uploadBuffer(t, `/c/${NFC}`, Buffer.from('x'))).status).toBe(200);
    await expectLookAlike(await t.api(`/api/v1/mkdir${encodePathForUrl(`/c/${NFD}`)}`, { method: 'POST' }), `/c/${NFD}`, `/c/${NFC}`);
    await expectLookAlike(await uploadBuffer(t, `/c/${NFD}/inner.txt`, Buffer.from('y')), `/c/${NFD}`, `/c/${NFC}`);
    expect((await uploadBuffer(t, '/c/other.txt', Buffer.from('z'))).status).toBe(200);
    await expectLookAlike(await t.api('/api/v1/move', { method: 'POST', json: { from: '/c/other.txt', to: `/c/${NFD}` } }), `/c/${NFD}`, `/c/${NFC}`);
    await expectLookAlike(await t.api('/api/v1/copy', { method: 'POST', json: { from: '/c/other.txt', to: `/c/${NFD}` } }), `/c/${NFD}`, `/c/${NFC}`);
    expect(await names('/c')).toEqual([NFC, 'other.txt'].sort());
    // Renaming a file to the other form of its own name is allowed: only one remains.
    expect((await t.api('/api/v1/move', { method: 'POST', json: { from: `/c/${NFC}`, to: `/c/${NFD}` } })).status).toBe(200);
    expect(await names('/c')).toEqual([NFD, 'other.txt'].sort());
  });

  it('a batch upload holding both forms commits nothing', async () => {
    const files = [NFC, NFD].map((n, i) => {
      const { refs } = pieces(Buffer.from(`batch ${i}`), 1024);
      return { path: `/d/${n}`, size: 7, hash: fileHashOf(refs), chunks: refs };
    });
    const res = await t.api('/api/v1/uploads', { method: 'POST', json: { files } });
    expect(res.status).toBe(201);
    const { id, missing } = (await res.json()) as { id: string; missing: string[] };
    for (const [i, f] of files.entries()) {
      if (!missing.includes(f.chunks[0].hash)) continue;
      expect((await t.api(`/api/v1/uploads/${id}/chunks/${f.chunks[0].hash}`, { method: 'PUT', body: Buffer.from(`batch ${i}`), headers: { 'content-type': 'application/octet-stream' } })).status).toBe(200);
    }
    await expectLookAlike(await t.api(`/api/v1/uploads/${id}/commit`, { method: 'POST', json: {} }), `/d/${NFD}`, `/d/${NFC}`);
    expect((await t.api('/api/v1/stat/d')).status).toBe(404);
  });

  it('an ASCII name meets its look-alikes too (U+212A KELVIN SIGN is K in NFC)', async () => {
    expect((await uploadBuffer(t, '/e/\u212a.txt', Buffer.from('kelvin'))).status).toBe(200);
    await expectLookAlike(await uploadBuffer(t, '/e/K.txt', Buffer.from('k')), '/e/K.txt', '/e/\u212a.txt');
    expect((await uploadBuffer(t, '/e/k.txt', Buffer.from('lower case is another name'))).status).toBe(200);
  });

  it('put -r of a local tree with both forms: one file comes, the other fails with a clear error', async () => {
    const tmp = await tempDir();
    const client = new FerryClient({ server: t.url, token: t.token });
    try {
      await mkdir(join(tmp.path, 'src'));
      await writeFile(join(tmp.path, 'src', NFC), 'composed');
      await writeFile(join(tmp.path, 'src', NFD), 'decomposed');
      const failed: string[] = [];
      const err = await client.putTree(join(tmp.path, 'src'), '/f', { onFileError: (p) => failed.push(p) }).catch((e: unknown) => e);
      expect(isFerryError(err, 'FERRY_ERR_ALREADY_EXISTS')).toBe(true);
      expect((await names('/f')).length).toBe(1);
      expect(failed).toHaveLength(1);
    } finally {
      await client.close();
      await tmp.cleanup();
    }
  });
});

describe('the migration that adds name folds', () => {
  it('keeps look-alikes that already coexist and refuses new ones from then on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fold-'));
    try {
      const file = join(dir, 'meta.db');
      // A store as the previous version left it, holding both forms.
      const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new Database(file) }) });
      const migrator = new Migrator({ db, provider: migrationProvider('sqlite') });
      expect((await migrator.migrateTo('0004-upload-entries-by-hash')).error).toBeUndefined();
      const row = (path: string, name: string, type = 'file') => ({ path, parent: '/', name, type, size: 0, mtime: 1, created_at: 1, updated_at: 1 });
      await db.insertInto('files').values([row(`/${NFC}`, NFC), row(`/${NFD}`, NFD), row('/plain', 'plain', 'dir')]).execute();
      await db.destroy();

      const store = await MetaStore.openSqlite(file);
      try {
        const folds = await store.db.selectFrom('files').select(['name', 'name_fold']).orderBy('path').execute();
        expect(folds).toEqual([
          { name: NFD, name_fold: NFC },
          { name: NFC, name_fold: NFC },
          { name: 'plain', name_fold: null },
        ].sort((a, b) => (Buffer.from(`/${a.name}`) < Buffer.from(`/${b.name}`) ? -1 : 1)));
        expect((await store.list('/', { limit: 10 })).entries.map((e) => e.name).sort()).toEqual([NFC, NFD, 'plain'].sort());
        const err = await store.mkdir(`/${'cafe\u0301'}`).then(() => undefined, (e: unknown) => e);
        expect(isFerryError(err)).toBe(false); // café (no .txt) has no look-alike yet
        const err2 = await store.mkdir(`/${'caf\u00e9'}`).catch((e: unknown) => e);
        expect(isFerryError(err2, 'FERRY_ERR_ALREADY_EXISTS')).toBe(true);
      } finally {
        await store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
