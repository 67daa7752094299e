/**
 * The metadata store's conformance suite: the contract of `src/store/meta-store.ts` (see
 * docs/metadata.md), as tests, run on every engine it supports: SQLite
 * (src/store/meta-store.test.ts) and a real PostgreSQL server (test/store/meta-store-postgres.test.ts).
 *
 *   describeMetaStore('sqlite', async () => {
 *     const dir = await mkdtemp(...);
 *     return { open: (now) => MetaStore.openSqlite(join(dir, 'meta.db'), { now }), cleanup: () => rm(dir, ...) };
 *   });
 *
 * `makeDatabase` runs before each test and hands out an empty database; `open` may be called
 * several times on it: a restart, or a second node sharing the database (the multi-node
 * tests open two stores at once and make them race). Nothing is skipped on either engine.
 */
import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../../src/core/errors.js';
import { fileHashOf, type ChunkRef } from '../../src/core/manifest.js';
import { AuthStore, type TokenRow, type UserRow } from '../../src/store/auth-store.js';
import { BanStore } from '../../src/store/ban-store.js';
import { DavStore } from '../../src/store/dav-store.js';
import type { MetaStore } from '../../src/store/meta-store.js';
import { VersionStore } from '../../src/store/version-store.js';

export interface MetaStoreDatabase {
  /** Opens (migrating it first if needed) a store on the database, with this clock. */
  open(now: () => number): Promise<MetaStore>;
  /**
   * `many`: several processes may share the database (PostgreSQL), and the multi-node tests
   * open a store per node. `one`: one process owns it (SQLite, held by the data directory
   * lock; two connections in one thread cannot even interleave their transactions), and
   * the same tests make their "nodes" race through the one store.
   */
  nodes: 'one' | 'many';
  cleanup(): Promise<void>;
}

const h = (s: string): string => createHash('sha256').update(s).digest('hex');
const chunk = (s: string, size = 10): ChunkRef => ({ hash: h(s), size });

async function expectCode(p: Promise<unknown>, code: string) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isFerryError(err) ? err.code : err).toBe(code);
}

export function describeMetaStore(name: string, makeDatabase: () => Promise<MetaStoreDatabase>): void {
  describe(`MetaStore conformance: ${name}`, () => {
    let database: MetaStoreDatabase;
    let store: MetaStore;
    let clock = 1_000_000;
    const opened: MetaStore[] = [];
    const open = async (): Promise<MetaStore> => {
      const s = await database.open(() => clock);
      opened.push(s);
      return s;
    };

    /** Another node on the database (see MetaStoreDatabase.nodes). */
    it('reads a whole tree row by row, page after page, in byte order of the paths (forEachInTree)', async () => {
      // Names whose UTF-16 order is not their byte order: the digest of a listing needs the latter.
      const names = ['/t/a-b', '/t/a/x', '/t/\u{1F600}', '/t/\uFB01', '/t/z/\u{1F600}/y'];
      for (const [i, p] of names.entries()) await upload(p, [chunk(`t${i}`, i + 1)]);
      await upload('/elsewhere', [chunk('e')]);
      const rows: Array<{ path: string; type: string; size: number; mtime: number }> = [];
      await store.forEachInTree('/t', (r) => rows.push(r), 2);
      const listed = (await store.list('/t', { recursive: true, limit: 100 })).entries;
      expect(rows).toEqual(listed.map((e) => ({ path: e.path, type: e.type, size: e.size, mtime: e.mtime })));
      expect(rows.map((r) => r.path)).toEqual([...rows.map((r) => r.path)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
      expect(rows).toHaveLength(names.length + 3); // and the directories /t/a, /t/z, /t/z/😀
      expect(typeof rows[0].size).toBe('number');
      await expect(store.forEachInTree('/t/a-b', () => {})).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_A_DIRECTORY' });
      await expect(store.forEachInTree('/none', () => {})).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    });

    const node = async (): Promise<MetaStore> => (database.nodes === 'many' ? open() : store);

    beforeEach(async () => {
      clock = 1_000_000;
      database = await makeDatabase();
      store = await open();
    });
    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => undefined);
      await database.cleanup();
    });

    async function upload(path: string, chunks: ChunkRef[], opts: { store?: boolean } = {}) {
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path, size: chunks.reduce((a, c) => a + c.size, 0), hash: fileHashOf(chunks), chunks }] });
      if (opts.store !== false) for (const c of chunks) await store.addChunk(c.hash, c.size);
      return store.commitUpload(u.id);
    }

    async function chunkRefs(hash: string): Promise<number | undefined> {
      const row = await store.db.selectFrom('chunks').select('refs').where('hash', '=', hash).executeTakeFirst();
      return row?.refs;
    }

    it('commits a file, creating parents, and reports it in stat and list', async () => {
      const [e] = await upload('/a/b/c.txt', [chunk('x'), chunk('y', 5)]);
      expect(e).toMatchObject({ path: '/a/b/c.txt', type: 'file', size: 15 });
      expect((await store.stat('/a/b')).type).toBe('dir');
      const { entries } = await store.list('/', { recursive: true, limit: 100 });
      expect(entries.map((x) => x.path)).toEqual(['/a', '/a/b', '/a/b/c.txt']);
      const content = await store.fileContent('/a/b/c.txt');
      expect(content.chunks).toEqual([chunk('x'), chunk('y', 5)]);
      expect(await chunkRefs(h('x'))).toBe(1);
    });

    it('refuses a commit while chunks are missing, and names them', async () => {
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/f', size: 10, hash: fileHashOf([chunk('m')]), chunks: [chunk('m')] }] });
      const err = await store.commitUpload(u.id).catch((e: unknown) => e);
      expect(isFerryError(err, 'FERRY_ERR_UPLOAD_INCOMPLETE')).toBe(true);
      expect((err as { details: { missing: string[] } }).details.missing).toEqual([h('m')]);
      await expectCode(store.stat('/f'), 'FERRY_ERR_NOT_FOUND');
    });

    it('indexes several loose chunks in one call, each as if recorded alone after those before it', async () => {
      await store.addChunk(h('old'), 10, 'cold');
      const added = await store.addChunks([
        { hash: h('b'), size: 10, store: null, owner: 'ann', storedSize: 8 },
        { hash: h('old'), size: 10, store: null, owner: 'ann', storedSize: 10 },
        { hash: h('a'), size: 10, store: null, storedSize: null },
        { hash: h('b'), size: 10, store: null, owner: 'ann', storedSize: 8 },
      ]);
      expect(added).toEqual([{ fresh: true }, { previous: { pack: null, store: 'cold' }, fresh: true }, { fresh: true }, { previous: { pack: null, store: null }, fresh: false }]);
      expect(await store.ownedChunks('ann', [h('a'), h('b'), h('old')])).toEqual(new Set([h('b'), h('old')]));
      expect(await store.ownedChunks('ann', [h('old')])).toEqual(new Set([h('old')]));
      expect(await store.ownedChunks('bob', [h('old')])).toEqual(new Set());
      const where = await store.chunkLocations([h('a'), h('b'), h('old')]);
      expect([...where.values()].map((l) => [l.hash, l.store ?? null, l.stored ?? null]).sort()).toEqual([[h('a'), null, null], [h('b'), null, 8], [h('old'), null, 10]].sort());
    });

    it('verifies the claimed size and hash against the manifest', async () => {
      await store.addChunk(h('q'), 10);
      const bad = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/f', size: 10, hash: h('lie'), chunks: [chunk('q')] }] });
      await expectCode(store.commitUpload(bad.id), 'FERRY_ERR_HASH_MISMATCH');
      const bad2 = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/f', size: 11, hash: fileHashOf([chunk('q')]), chunks: [chunk('q')] }] });
      await expectCode(store.commitUpload(bad2.id), 'FERRY_ERR_SIZE_MISMATCH');
    });

    it('streams a manifest by appends and checks the final facts at commit', async () => {
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/s' }] });
      expect(await store.appendEntries(u.id, 0, [chunk('1'), chunk('2')], 60_000)).toEqual([h('1'), h('2')]);
      await store.addChunk(h('1'), 10);
      expect(await store.appendEntries(u.id, 0, [chunk('1'), chunk('3')], 60_000)).toEqual([h('3')]);
      expect(await store.missingChunks(u.id)).toHaveLength(2);
      await store.addChunk(h('2'), 10);
      await store.addChunk(h('3'), 10);
      const list = [chunk('1'), chunk('2'), chunk('1'), chunk('3')];
      await expectCode(store.commitUpload(u.id, { size: 41 }), 'FERRY_ERR_SIZE_MISMATCH');
      const [e] = await store.commitUpload(u.id, { size: 40, hash: fileHashOf(list) });
      expect(e.hash).toBe(fileHashOf(list));
      // a chunk repeated inside one manifest counts once
      expect(await chunkRefs(h('1'))).toBe(1);
      await expectCode(store.getUpload(u.id), 'FERRY_ERR_UPLOAD_NOT_FOUND');
    });

    it('appends the last entries of a streamed manifest in the commit itself, and in nothing when the commit fails', async () => {
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/s' }] });
      await store.appendEntries(u.id, 0, [chunk('1')], 60_000);
      for (const c of ['1', '2', '3']) await store.addChunk(h(c), 10);
      const list = [chunk('1'), chunk('2'), chunk('3')];
      // Refused (the final size is wrong; then a stale count of entries): nothing appended.
      await expectCode(store.commitUpload(u.id, { size: 40 }, { append: { fileIdx: 0, from: 1, chunks: [chunk('2'), chunk('3')] } }), 'FERRY_ERR_SIZE_MISMATCH');
      await expectCode(store.commitUpload(u.id, { size: 30 }, { append: { fileIdx: 0, from: 0, chunks: list } }), 'FERRY_ERR_VALIDATION');
      expect(await store.uploads.uploadEntries(u.id, 0)).toEqual([chunk('1')]);
      const [e] = await store.commitUpload(u.id, { size: 30, hash: fileHashOf(list) }, { append: { fileIdx: 0, from: 1, chunks: [chunk('2'), chunk('3')] } });
      expect(e).toMatchObject({ path: '/s', size: 30, hash: fileHashOf(list) });
      expect((await store.fileContent('/s')).chunks).toEqual(list);
      // A sealed file takes no appended entries.
      const sealed = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/t', size: 10, hash: fileHashOf([chunk('1')]), chunks: [chunk('1')] }] });
      await expectCode(store.commitUpload(sealed.id, {}, { append: { fileIdx: 0, from: 1, chunks: [chunk('2')] } }), 'FERRY_ERR_UPLOAD_SEALED');
      await expectCode(store.stat('/t'), 'FERRY_ERR_NOT_FOUND');
    });

    it("counts a user's live sessions, visitors' apart, and finds and drops their partial uploads by path", async () => {
      await new AuthStore(store).createUser(userRow('u5', 'eve'), []);
      const open = (path: string, o: { partial?: boolean; visitorStream?: boolean } = {}) => store.createUpload({ owner: 'u5', noOverwrite: false, ttlMs: 60_000, files: [{ path }], ...o });
      const first = await open('/eve/f', { partial: true });
      await store.appendEntries(first.id, 0, [chunk('p1')], 60_000);
      clock += 10;
      const second = await open('/eve/f', { partial: true });
      await store.appendEntries(second.id, 0, [chunk('p2'), chunk('p3', 5)], 60_000);
      await open('/eve/g');
      await open('/eve/inbox/v', { visitorStream: true });
      expect(await store.countUploads('u5')).toBe(3);
      expect(await store.countUploads('u5', store.db, 'visitors')).toBe(1);
      expect(await store.countUploads('u5', store.db, 'own', second.id)).toBe(2);
      // The newest partial of the path, with its chunks in order.
      expect(await store.findPartial('u5', '/eve/f')).toMatchObject({ id: second.id, path: '/eve/f', chunks: [chunk('p2'), chunk('p3', 5)], size: 15 });
      expect(await store.findPartial('u5', '/eve/g')).toBeUndefined();
      expect(await store.findPartial('u1', '/eve/f')).toBeUndefined();
      // Those last written before a time go; newer ones stay.
      expect(await store.dropPartials('u5', '/eve/f', { before: clock })).toBe(1);
      expect((await store.findPartial('u5', '/eve/f'))?.id).toBe(second.id);
      clock += 60_001;
      expect(await store.countUploads('u5')).toBe(0);
      expect(await store.findPartial('u5', '/eve/f')).toBeUndefined();
    });

    it('shares manifests between copies and releases chunks when the last copy goes', async () => {
      await upload('/one', [chunk('a'), chunk('b')]);
      await store.copy('/one', '/two');
      await upload('/three', [chunk('a'), chunk('b')]);
      const m = await store.db.selectFrom('manifests').select('refs').executeTakeFirstOrThrow();
      expect(m.refs).toBe(3);
      expect(await chunkRefs(h('a'))).toBe(1);
      await store.remove('/one');
      await store.remove('/two');
      expect(await chunkRefs(h('a'))).toBe(1);
      await store.remove('/three');
      expect(await chunkRefs(h('a'))).toBe(0);
      expect(await store.db.selectFrom('manifests').selectAll().execute()).toHaveLength(0);
    });

    it('overwriting a file releases the old content', async () => {
      await upload('/f', [chunk('old')]);
      await upload('/f', [chunk('new')]);
      expect(await chunkRefs(h('old'))).toBe(0);
      expect(await chunkRefs(h('new'))).toBe(1);
      expect((await store.stat('/f')).hash).toBe(fileHashOf([chunk('new')]));
    });

    it('moves directory trees with non-ASCII names in one transaction', async () => {
      await upload('/📷 photos/2024/ä b.jpg', [chunk('p1')]);
      await upload('/📷 photos/2024/sub/c.jpg', [chunk('p2')]);
      await upload('/📷 photosX/keep.jpg', [chunk('p3')]);
      await store.move('/📷 photos', '/archive/😀/pics');
      const { entries } = await store.list('/', { recursive: true, limit: 100 });
      expect(entries.map((e) => e.path)).toEqual([
        '/archive',
        '/archive/😀',
        '/archive/😀/pics',
        '/archive/😀/pics/2024',
        '/archive/😀/pics/2024/sub',
        '/archive/😀/pics/2024/sub/c.jpg',
        '/archive/😀/pics/2024/ä b.jpg',
        '/📷 photosX',
        '/📷 photosX/keep.jpg',
      ]);
      const sub = await store.list('/archive/😀/pics/2024', { limit: 10 });
      expect(sub.entries.map((e) => e.name)).toEqual(['sub', 'ä b.jpg']);
      await expectCode(store.move('/archive', '/archive/x'), 'FERRY_ERR_VALIDATION');
    });

    it('refuses a move or copy that would make a path below it longer than 4,096 bytes (counted in bytes), and moves nothing', async () => {
      // 2 + 19 × 201 + 6 = 3,827 bytes; under a name 300 bytes longer (150 two-byte letters),
      // 4,127 bytes, though 3,977 characters: counting characters would let it through.
      const deep = '/t' + `/${'d'.repeat(200)}`.repeat(19);
      await upload(`${deep}/f.txt`, [chunk('deep')]);
      const longer = '/' + 'é'.repeat(150) + 't';
      await expectCode(store.move('/t', longer), 'FERRY_ERR_PATH_INVALID');
      await expectCode(store.copy('/t', longer), 'FERRY_ERR_PATH_INVALID');
      await expectCode(store.stat(longer), 'FERRY_ERR_NOT_FOUND');
      expect((await store.stat(`${deep}/f.txt`)).type).toBe('file');
      // A name 150 bytes longer: 3,977 bytes, within the limit.
      await store.move('/t', '/' + 'é'.repeat(75) + 't');
      expect((await store.stat('/' + 'é'.repeat(75) + 't' + deep.slice(2) + '/f.txt')).type).toBe('file');
    });

    describe('trees whose names hold LIKE wildcards, backslashes, non-ASCII, and siblings that share their prefix', () => {
      // Below /s/a: names a LIKE pattern or an escaping bug would mistake; beside it: names that
      // start like it and sort around its range (`a-b`, `a.txt` before `a/`, `a0` right after `a/`'s range, `ab`).
      const inside = ['/%/f', '/_/g', '/\\/h', '/a\\%_/i', '/é/ü 😀', '/a/a/a', '/x'];
      const beside = ['/s/a-b/k1', '/s/a.txt', '/s/a0/k2', '/s/ab/k3', '/s/a%/k4', '/s/a_/k5'];
      const sortBytes = (xs: string[]): string[] => [...xs].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const treeBelow = async (root: string): Promise<string[]> => (await store.list(root, { recursive: true, limit: 1000 })).entries.map((e) => e.path.slice(root.length));
      const manifestRefs = async (): Promise<Record<string, number>> =>
        Object.fromEntries((await store.db.selectFrom('manifests').select(['hash', 'refs']).execute()).map((m) => [m.hash, Number(m.refs)]));

      beforeEach(async () => {
        // One content shared by every file below /s/a, and one of each file beside it.
        for (const p of inside) await upload('/s/a' + p, [chunk('shared')]);
        for (const p of beside) await upload(p, [chunk(p)]);
      });

      const below = sortBytes(['/%', '/%/f', '/_', '/_/g', '/\\', '/\\/h', '/a', '/a/a', '/a/a/a', '/a\\%_', '/a\\%_/i', '/x', '/é', '/é/ü 😀']);

      it('copies exactly the tree, its paths rebased, every file a new reference on its manifest', async () => {
        const before = await treeBelow('/s');
        expect(await treeBelow('/s/a')).toEqual(below);
        await store.copy('/s/a', '/c/%_\\é');
        expect(await treeBelow('/c/%_\\é')).toEqual(below);
        expect(await treeBelow('/s')).toEqual(before);
        const copy = await store.list('/c/%_\\é/a\\%_', { limit: 10 });
        expect(copy.entries.map((e) => [e.path, e.name])).toEqual([['/c/%_\\é/a\\%_/i', 'i']]);
        expect((await store.stat('/c/%_\\é')).name).toBe('%_\\é');
        const refs = await manifestRefs();
        expect(refs[fileHashOf([chunk('shared')])]).toBe(2 * inside.length);
        for (const p of beside) expect(refs[fileHashOf([chunk(p)])]).toBe(1);
        // A file copies alone, and the copy of a tree beside another leaves that one alone.
        await store.copy('/s/a.txt', '/c/a.txt');
        expect(refs[fileHashOf([chunk('/s/a.txt')])] + 1).toBe((await manifestRefs())[fileHashOf([chunk('/s/a.txt')])]);
        await store.copy('/s/a0', '/c/a0');
        expect(await treeBelow('/c/a0')).toEqual(['/k2']);
      });

      it('moves exactly the tree, and a name beside it stays', async () => {
        const refs = await manifestRefs();
        await store.move('/s/a', '/m/a\\%_');
        expect(await treeBelow('/m/a\\%_')).toEqual(below);
        expect(await treeBelow('/s')).toEqual(sortBytes(['/a-b', '/a-b/k1', '/a.txt', '/a0', '/a0/k2', '/ab', '/ab/k3', '/a%', '/a%/k4', '/a_', '/a_/k5']));
        const children = await store.list('/m/a\\%_/é', { limit: 10 });
        expect(children.entries.map((e) => e.path)).toEqual(['/m/a\\%_/é/ü 😀']);
        expect(await manifestRefs()).toEqual(refs);
        await expectCode(store.stat('/s/a'), 'FERRY_ERR_NOT_FOUND');
      });

      it('deletes exactly the tree, releasing its references and chunks, and keeps the trash of it when on', async () => {
        const trashDays = { value: 0 };
        store.setRetention(new VersionStore(store, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: trashDays.value }), () => clock));
        await store.copy('/s/a', '/s/ab/copy');
        expect(await store.remove('/s/a', { recursive: true })).toEqual({ files: inside.length, dirs: below.length - inside.length + 1 });
        expect(await treeBelow('/s/ab')).toEqual(['/copy', ...below.map((p) => '/copy' + p), '/k3']);
        expect((await manifestRefs())[fileHashOf([chunk('shared')])]).toBe(inside.length);
        expect(await chunkRefs(h('shared'))).toBe(1);
        // Into the trash: every file of the tree, one batch, holding the content.
        trashDays.value = 30;
        await store.remove('/s/ab', { recursive: true });
        const trashed = await store.db.selectFrom('trash').select(['path', 'batch', 'manifest', 'size']).orderBy('id').execute();
        expect(trashed.map((t) => t.path)).toEqual(sortBytes(['/s/ab/k3', ...inside.map((p) => '/s/ab/copy' + p)]));
        expect(new Set(trashed.map((t) => t.batch)).size).toBe(1);
        expect(trashed.map((t) => Number(t.size))).toEqual(trashed.map(() => 10));
        expect((await manifestRefs())[fileHashOf([chunk('shared')])]).toBe(inside.length);
        expect(await treeBelow('/s')).toEqual(sortBytes(['/a-b', '/a-b/k1', '/a.txt', '/a0', '/a0/k2', '/a%', '/a%/k4', '/a_', '/a_/k5']));
        // The trash emptied, the last references go, and with them the chunk.
        await new VersionStore(store, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: 30 }), () => clock).emptyTrash('/');
        expect((await manifestRefs())[fileHashOf([chunk('shared')])]).toBeUndefined();
        expect(await chunkRefs(h('shared'))).toBe(0);
      });

      it('deletes a tree in steps: each row left between steps has its folder, the trash gets one batch, and a failed step leaves a tree to delete again', async () => {
        const versions = new VersionStore(store, () => ({ versions: { keep: 0, days: 0, paths: {} }, trashDays: 30 }), () => clock);
        let steps = 0;
        let failAt = 3;
        store.setRetention({
          departing: (...a) => versions.departing(...a),
          departingSpan: async (...a) => {
            if (++steps === failAt) throw new Error('the server stopped between two steps');
            return versions.departingSpan(...a);
          },
        });
        const shared = fileHashOf([chunk('shared')]);
        const consistent = async (): Promise<void> => {
          const rows = (await store.list('/', { recursive: true, limit: 1000 })).entries;
          const dirs = new Set(['/', ...rows.filter((e) => e.type === 'dir').map((e) => e.path)]);
          for (const e of rows) expect(dirs.has(e.path.slice(0, e.path.lastIndexOf('/')) || '/'), e.path).toBe(true);
          const files = rows.filter((e) => e.hash === shared).length;
          const trashed = (await store.db.selectFrom('trash').select('id').where('manifest', '=', shared).execute()).length;
          expect((await manifestRefs())[shared]).toBe(files + trashed);
        };
        // 14 rows below /s/a, 3 to a step: the third step fails after two went through.
        await expect(store.remove('/s/a', { recursive: true, stepRows: 3 })).rejects.toThrow('the server stopped');
        await consistent();
        const left = await treeBelow('/s/a');
        expect(left).toEqual(below.slice(0, below.length - 6));
        const firstBatch = await store.db.selectFrom('trash').select(['path', 'batch']).execute();
        expect(new Set(firstBatch.map((t) => t.batch)).size).toBe(1);
        // Deleted again, it goes, and its files join the trash as a second batch.
        failAt = 0;
        const again = await store.remove('/s/a', { recursive: true, stepRows: 3 });
        expect(again.files + firstBatch.length).toBe(inside.length);
        expect(again.files + again.dirs).toBe(left.length + 1);
        await expectCode(store.stat('/s/a'), 'FERRY_ERR_NOT_FOUND');
        await consistent();
        const trashed = await store.db.selectFrom('trash').select(['path', 'batch']).execute();
        expect(sortBytes(trashed.map((t) => t.path))).toEqual(sortBytes(inside.map((p) => '/s/a' + p)));
        expect(new Set(trashed.map((t) => t.batch)).size).toBe(2);
        // The names beside it stay.
        expect(await treeBelow('/s')).toEqual(sortBytes(['/a-b', '/a-b/k1', '/a.txt', '/a0', '/a0/k2', '/ab', '/ab/k3', '/a%', '/a%/k4', '/a_', '/a_/k5']));
      });
    });

    it('refuses to put a file under a file or over a directory', async () => {
      await upload('/f', [chunk('f')]);
      await expectCode(upload('/f/g', [chunk('g')]), 'FERRY_ERR_NOT_A_DIRECTORY');
      await store.mkdir('/d');
      await expectCode(upload('/d', [chunk('d')]), 'FERRY_ERR_IS_A_DIRECTORY');
      await expectCode(store.mkdir('/d'), 'FERRY_ERR_ALREADY_EXISTS');
      await expectCode(store.mkdir('/x/y'), 'FERRY_ERR_NOT_FOUND');
      expect((await store.mkdir('/x/y', { parents: true })).path).toBe('/x/y');
    });

    it('deletes directories only when recursive or empty', async () => {
      await upload('/d/e/f', [chunk('f')]);
      await expectCode(store.remove('/d'), 'FERRY_ERR_DIRECTORY_NOT_EMPTY');
      expect(await store.remove('/d', { recursive: true })).toEqual({ files: 1, dirs: 2 });
      expect((await store.list('/', { limit: 10 })).entries).toEqual([]);
    });

    it('pages through a listing with a cursor', async () => {
      for (let i = 0; i < 25; i++) await upload(`/p/${String(i).padStart(2, '0')}`, [chunk(`c${i}`)]);
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await store.list('/p', { limit: 10, cursor });
        seen.push(...page.entries.map((e) => e.name));
        cursor = page.next;
      } while (cursor);
      expect(seen).toHaveLength(25);
      expect(seen[24]).toBe('24');
    });

    it('garbage-collects only unreferenced chunks past the grace period that no session mentions', async () => {
      await store.addChunk(h('orphan'), 10);
      await store.addChunk(h('pending'), 10);
      await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/p', size: 10, hash: fileHashOf([chunk('pending')]), chunks: [chunk('pending')] }] });
      await upload('/kept', [chunk('kept')]);
      expect(await store.collectGarbage(clock, 100)).toEqual({ chunks: [], packs: [] }); // grace
      clock += 10;
      expect((await store.collectGarbage(clock, 100)).chunks).toEqual([h('orphan')]);
      clock += 120_000;
      expect(await store.expireUploads()).toBe(1);
      expect((await store.collectGarbage(clock, 100)).chunks).toEqual([h('pending')]);
    });

    it('removes a pack once none of its chunks is left', async () => {
      await store.addPack('pk1', 30, [
        { hash: h('s1'), size: 10, offset: 0 },
        { hash: h('s2'), size: 20, offset: 10 },
      ]);
      await upload('/s', [chunk('s1')], { store: false }); // s1 is stored: in the pack
      clock += 10;
      expect(await store.collectGarbage(clock, 100)).toEqual({ chunks: [], packs: [] });
      expect(await store.chunkLocation(h('s2'))).toBeUndefined();
      await store.remove('/s');
      clock += 10;
      expect(await store.collectGarbage(clock, 100)).toEqual({ chunks: [], packs: ['pk1'] });
    });

    it('indexes several packs in one transaction as if one after the other, and none of them when one fails', async () => {
      const entry = (s: string, offset: number) => ({ hash: h(s), size: 10, offset });
      // g2 is in both packs: its row ends up pointing into the later one, and it is new to its owner once.
      const [a, b, c] = await store.addPacks([
        { id: 'grp-1', size: 20, entries: [entry('g1', 0), entry('g2', 10)], store: null, owner: 'grp-owner' },
        { id: 'grp-2', size: 20, entries: [entry('g2', 0), entry('g3', 10)], store: null, owner: 'grp-owner' },
        { id: 'grp-3', size: 10, entries: [entry('g4', 0)], store: null },
      ]);
      expect([a.fresh, b.fresh, c.fresh]).toEqual([2, 1, 1]);
      expect(a.wasLoose).toEqual([]);
      expect(await store.chunkLocation(h('g1'))).toMatchObject({ pack: 'grp-1', offset: 0 });
      expect(await store.chunkLocation(h('g2'))).toMatchObject({ pack: 'grp-2', offset: 0 });
      expect(await store.chunkLocation(h('g4'))).toMatchObject({ pack: 'grp-3', offset: 0 });
      expect([...(await store.ownedChunks('grp-owner', [h('g1'), h('g2'), h('g3'), h('g4')]))].sort()).toEqual([h('g1'), h('g2'), h('g3')].sort());
      // A loose chunk packed now is reported once, by the pack that found it loose.
      await store.addChunk(h('g5'), 10);
      const [d, e] = await store.addPacks([
        { id: 'grp-4', size: 10, entries: [entry('g5', 0)], store: null },
        { id: 'grp-5', size: 10, entries: [entry('g5', 0)], store: null },
      ]);
      expect(d.wasLoose.map((l) => l.hash)).toEqual([h('g5')]);
      expect(e.wasLoose).toEqual([]);
      // The second pack's id is taken: nothing of the group is indexed, the first pack included.
      await expect(
        store.addPacks([
          { id: 'grp-6', size: 10, entries: [entry('g6', 0)], store: null, owner: 'grp-owner' },
          { id: 'grp-1', size: 10, entries: [entry('g7', 0)], store: null, owner: 'grp-owner' },
        ]),
      ).rejects.toThrow();
      expect(await store.chunkLocation(h('g6'))).toBeUndefined();
      expect(await store.chunkLocation(h('g7'))).toBeUndefined();
      expect((await store.ownedChunks('grp-owner', [h('g6')])).size).toBe(0);
      expect((await store.addPacks([{ id: 'grp-6', size: 10, entries: [entry('g6', 0)], store: null, owner: 'grp-owner' }]))[0].fresh).toBe(1);
    });

    it('commits a session of many small files in one pack: every row written, many to a statement, and replaced in place', async () => {
      // 157 files of 1–3 chunks: more rows than one statement of each insert takes, and
      // remainders of several sizes (the inserts' shapes: src/store/prepared-insert.ts).
      const files = Array.from({ length: 157 }, (_, i) => {
        const chunks = Array.from({ length: 1 + (i % 3) }, (_, j) => chunk(`many-${i}-${j}`, 1 + i + j));
        return { path: `/many/d${i % 7}/f${i}`, size: chunks.reduce((a, c) => a + c.size, 0), hash: fileHashOf(chunks), mtime: 1000 + i, mode: 0o644, chunks };
      });
      const all = files.flatMap((f) => f.chunks);
      const u = await store.createUpload({ owner: 'many-owner', noOverwrite: false, ttlMs: 60_000, files });
      expect(await store.missingChunks(u.id)).toHaveLength(all.length);
      let offset = 0;
      const packed = all.map((c) => ({ hash: c.hash, size: c.size, offset: (offset += c.size) - c.size }));
      expect((await store.addPack('many-pack', offset, packed, null, 'many-owner')).fresh).toBe(all.length);
      expect((await store.addPack('many-pack-2', offset, packed, null, 'many-owner')).fresh).toBe(0);
      expect(await store.missingChunks(u.id)).toEqual([]);
      clock += 5;
      const committed = await store.commitUpload(u.id);
      expect(committed.map((e) => [e.path, e.size, e.hash, e.mtime])).toEqual(files.map((f) => [f.path, f.size, f.hash, f.mtime]));
      const listed = (await store.list('/many', { recursive: true, limit: 1000 })).entries.filter((e) => e.type === 'file');
      expect(listed).toHaveLength(files.length);
      for (const f of [files[0], files[61], files[156]]) expect((await store.fileContent(f.path)).chunks).toEqual(f.chunks);
      expect(await chunkRefs(files[100].chunks[0].hash)).toBe(1);
      expect(await store.db.selectFrom('upload_entries').select('hash').execute()).toEqual([]);
      expect(await store.db.selectFrom('upload_files').select('path').execute()).toEqual([]);

      // Half of them again, with other content: the rows are updated, created_at kept.
      const again = files.filter((_, i) => i % 2 === 0).map((f) => ({ ...f, chunks: [chunk(`${f.path}-new`, 3)], size: 3, hash: fileHashOf([chunk(`${f.path}-new`, 3)]) }));
      const u2 = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: again });
      for (const f of again) await store.addChunk(f.chunks[0].hash, 3);
      clock += 5;
      await store.commitUpload(u2.id);
      const rows = await store.db.selectFrom('files').select(['path', 'size', 'created_at', 'updated_at']).where('path', 'in', [files[0].path, files[1].path, files[156].path]).orderBy('path').execute();
      expect(rows.map((r) => [r.path, r.size, r.created_at, r.updated_at])).toEqual(
        [
          [files[0].path, 3, 1_000_005, 1_000_010],
          [files[1].path, files[1].size, 1_000_005, 1_000_005],
          [files[156].path, 3, 1_000_005, 1_000_010],
        ].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
      );
      expect(await chunkRefs(files[0].chunks[0].hash)).toBe(0);
    });

    it('keeps upload sessions across a reopen (a server restart)', async () => {
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/r' }] });
      await store.appendEntries(u.id, 0, [chunk('r')], 60_000);
      await store.close();
      store = await open();
      expect(await store.missingChunks(u.id)).toEqual([h('r')]);
    });

    it('returns numbers, not strings, for sizes, times and counts', async () => {
      await upload('/n', [chunk('n1', 7), chunk('n2', 5)]);
      const e = await store.stat('/n');
      expect(e).toMatchObject({ size: 12, mtime: expect.any(Number) });
      expect(await store.usage('/')).toEqual({ bytes: 12, files: 1 });
      expect(await store.stats()).toMatchObject({ files: 1, logicalBytes: 12, chunks: 2, storedBytes: 12, uploads: 0 });
    });

    it('counts the bytes of WebDAV dead properties into a subtree\'s usage, the root\'s own included', async () => {
      await store.mkdir('/home', { parents: true });
      await upload('/home/f', [chunk('f1', 10)]);
      const dav = new DavStore(store);
      await dav.patch('/home/f', [{ op: 'set', ns: 'urn:z', name: 'color', value: 'bleu é' }]);
      await dav.patch('/home', [{ op: 'set', ns: 'urn:z', name: 'n', value: 'xy' }]);
      // 10 file bytes; 'urn:z' + 'color' + 'bleu é' (7 bytes in UTF-8) = 17; 'urn:z' + 'n' + 'xy' = 8.
      expect(await store.usage('/home')).toEqual({ bytes: 35, files: 1 });
      expect(await store.usage('/')).toEqual({ bytes: 35, files: 1 });
      expect(await store.usage('/elsewhere')).toEqual({ bytes: 0, files: 0 });
    });

    it('reads the dead properties of many paths a few bytes at a time, in their order (propsInBatches)', async () => {
      const dav = new DavStore(store);
      for (const p of ['/b', '/a', '/c']) {
        await store.mkdir(p);
        await dav.patch(p, [{ op: 'set', ns: 'urn:z', name: 'v', value: p.slice(1).repeat(100) }]);
      }
      await store.mkdir('/none');
      const batches: { paths: string[]; values: string[] }[] = [];
      // Each path holds 106 bytes ('urn:z' + 'v' + 100): two never fit in 150.
      for await (const { paths, props } of dav.propsInBatches(['/b', '/none', '/a', '/c'], 150)) {
        batches.push({ paths, values: paths.flatMap((p) => (props.get(p) ?? []).map((d) => d.value[0])) });
      }
      expect(batches).toEqual([
        { paths: ['/b', '/none'], values: ['b'] },
        { paths: ['/a'], values: ['a'] },
        { paths: ['/c'], values: ['c'] },
      ]);
      const together = [];
      for await (const batch of dav.propsInBatches(['/b', '/none', '/a', '/c'])) together.push(batch.paths);
      expect(together).toEqual([['/b', '/none', '/a', '/c']]);
    });

    it('runs the migrations once when several nodes open a new database at once', async () => {
      const fresh = await makeDatabase();
      try {
        const nodes: MetaStore[] = [];
        if (fresh.nodes === 'many') nodes.push(...(await Promise.all([1, 2, 3].map(() => fresh.open(() => clock)))));
        else for (let i = 0; i < 3; i++) nodes.push(await fresh.open(() => clock)); // restarts

        try {
          for (const s of nodes) expect((await s.stat('/')).type).toBe('dir');
          const rows = await nodes[0].db.selectFrom('kysely_migration' as never).select('name' as never).execute();
          const names = rows.map((r) => (r as { name: string }).name);
          expect(names.length).toBeGreaterThan(5);
          expect(new Set(names).size).toBe(names.length);
        } finally {
          for (const s of nodes) await s.close();
        }
      } finally {
        await fresh.cleanup();
      }
    });

    it('shows a second node what the first one committed', async () => {
      const other = await node();
      await upload('/shared/a', [chunk('sa')]);
      expect((await other.stat('/shared/a')).size).toBe(10);
      expect((await other.fileContent('/shared/a')).chunks).toEqual([chunk('sa')]);
      await other.remove('/shared', { recursive: true });
      await expectCode(store.stat('/shared/a'), 'FERRY_ERR_NOT_FOUND');
    });

    it('gives a lease to one holder at a time, and to another once it lapses or is released', async () => {
      const other = await node();
      const [a, b] = ['node-a', 'node-b'];
      expect(await store.leases.acquire('gc', 1000, a)).toBe(true);
      expect(await other.leases.acquire('gc', 1000, b)).toBe(false);
      expect(await store.leases.acquire('gc', 1000, a)).toBe(true); // a renewal
      expect((await other.leases.holderOf('gc'))?.holder).toBe(a);
      clock += 1001;
      expect(await other.leases.holderOf('gc')).toBeUndefined();
      expect(await other.leases.acquire('gc', 1000, b)).toBe(true);
      expect(await store.leases.acquire('gc', 1000, a)).toBe(false);
      await store.leases.release('gc', a); // not a's lease: nothing happens
      expect(await store.leases.acquire('gc', 1000, a)).toBe(false);
      await other.leases.release('gc', b);
      expect(await store.leases.acquire('gc', 1000, a)).toBe(true);
      // Taken at once by many: exactly one wins.
      const nodes = [store, other, await node(), await node()];
      const won = await Promise.all(nodes.map((n, i) => n.leases.acquire('sweep', 1000, `node-${i}`)));
      expect(won.filter(Boolean)).toHaveLength(1);
      // run(): skipped while another holder has the lease, done (and released) otherwise.
      await store.leases.acquire('ttl', 1000, 'elsewhere');
      let ran = 0;
      expect(await other.leases.run('ttl', 1000, async () => ++ran)).toEqual({ ran: false });
      clock += 1001;
      expect(await other.leases.run('ttl', 1000, async () => ++ran)).toEqual({ ran: true, result: 1 });
      expect(await store.leases.holderOf('ttl')).toBeUndefined();
      // Renewals still on their way when the job ends do not take the lease again after its
      // release (they did: other nodes then skipped the work for a whole lease time).
      const slow = await node();
      const acquire = slow.leases.acquire.bind(slow.leases);
      const calls: Promise<boolean>[] = [];
      slow.leases.acquire = (...args) => {
        const call = calls.length === 0 ? acquire(...args) : new Promise<void>((r) => setTimeout(r, 30)).then(() => acquire(...args));
        calls.push(call);
        return call;
      };
      expect(await slow.leases.run('renewed', 3, () => new Promise((r) => setTimeout(() => r('done'), 15)))).toEqual({ ran: true, result: 'done' });
      expect(calls.length).toBeGreaterThan(1);
      await Promise.all(calls);
      expect(await store.leases.holderOf('renewed')).toBeUndefined();
    });

    it('tells whether another holder has a live lease under a name prefix (the data keys nodes write with)', async () => {
      const other = await node();
      const prefix = 'data-key:s3:my_bucket/x%:ab12:';
      expect(await store.leases.heldByOthers(prefix, 'node-a')).toBe(false);
      expect(await store.leases.acquire(`${prefix}node-a`, 1000, 'node-a')).toBe(true);
      expect(await store.leases.heldByOthers(prefix, 'node-a')).toBe(false); // its own
      expect(await other.leases.heldByOthers(prefix, 'node-b')).toBe(true);
      // `_` and `%` are themselves, not wildcards.
      expect(await other.leases.heldByOthers('data-key:s3:myXbucket/x', 'node-b')).toBe(false);
      expect(await other.leases.heldByOthers('data-key:s3:my_bucket/xyz', 'node-b')).toBe(false);
      clock += 1001;
      expect(await other.leases.heldByOthers(prefix, 'node-b')).toBe(false); // lapsed
    });

    it('garbage collection on two nodes at once deletes each unreferenced chunk once and nothing referenced', async () => {
      const other = await node();
      const orphans = Array.from({ length: 60 }, (_, i) => chunk(`gc-orphan-${i}`));
      for (const c of orphans) await store.addChunk(c.hash, c.size);
      await upload('/keep', [chunk('gc-keep-1'), chunk('gc-keep-2')]);
      clock += 10;
      const [a, b] = await Promise.all([store.collectGarbage(clock, 25), other.collectGarbage(clock, 25)]);
      const [a2, b2] = await Promise.all([store.collectGarbage(clock, 100), other.collectGarbage(clock, 100)]);
      const victims = [...a.chunks, ...b.chunks, ...a2.chunks, ...b2.chunks];
      expect(victims.sort()).toEqual(orphans.map((c) => c.hash).sort());
      expect(await chunkRefs(h('gc-keep-1'))).toBe(1);
      expect((await other.fileContent('/keep')).chunks).toHaveLength(2);
    });

    it('refuses a commit whose chunk was collected after the session saw it, naming the chunk to send again', async () => {
      // The session is made while the chunk is indexed (nothing to send), then another node
      // collects it before the commit adds its reference: the commit must not go through.
      await store.addChunk(h('late'), 10);
      clock += 10;
      const u = await store.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path: '/late', size: 10, hash: fileHashOf([chunk('late')]), chunks: [chunk('late')] }] });
      await store.db.deleteFrom('chunks').where('hash', '=', h('late')).execute(); // what the other node's collection did
      await expectCode(store.commitUpload(u.id), 'FERRY_ERR_UPLOAD_INCOMPLETE');
      await expectCode(store.stat('/late'), 'FERRY_ERR_NOT_FOUND');
      await store.addChunk(h('late'), 10);
      expect((await store.commitUpload(u.id))[0].path).toBe('/late');
    });

    it('lets garbage collection see, under the chunk lock, a write in progress on another node', async () => {
      const other = await node();
      const id = await store.chunkIndex.beginWrite(h('w'));
      const seen = await other.chunkIndex.guard(h('w'), clock - 1000, async (state) => state);
      // One process per SQLite file (the data directory lock): there the chunk store's own
      // bookkeeping sees its writers, and nothing is registered in the database.
      expect(seen).toEqual({ location: undefined, writing: store.dialect === 'postgres' });
      await store.chunkIndex.endWrite(id);
      expect(await other.chunkIndex.guard(h('w'), clock - 1000, async (state) => state.writing)).toBe(false);
      if (store.dialect === 'postgres') {
        // A registration older than the cut-off is a dead writer's: removed, not honoured.
        const stale = await store.chunkIndex.beginWrite(h('w'));
        expect(stale).toBeDefined();
        expect(await other.chunkIndex.guard(h('w'), clock + 1, async (state) => state.writing)).toBe(false);
        expect(await other.chunkIndex.guard(h('w'), clock - 1000, async (state) => state.writing)).toBe(false);
      }
      await store.addChunk(h('w'), 10);
      expect((await other.chunkIndex.guard(h('w'), clock, async (state) => state.location))?.size).toBe(10);
    });

    // ------------------------------------------------------------ users and tokens (auth-store.ts)

    const userRow = (id: string, name: string): UserRow => ({ id, name, role: 'user', password_hash: null, home: `/home/${name}`, created_at: clock, disabled: 0, quota_bytes: null, quota_files: null, max_file_size: null, max_sessions: 2, ip_allow: null, ip_deny: null });
    const tokenRow = (id: string, user: string, secret: string): TokenRow => ({ id, user_id: user, name: id, secret_hash: h(secret), scopes: 'read,write', path_prefix: null, created_at: clock, expires_at: null, last_used_at: null, revoked_at: null });

    it('keeps users, grants and tokens, and a revocation through one node holds on the other at once', async () => {
      const a = new AuthStore(store);
      const b = new AuthStore(await node());
      await a.createUser(userRow('u1', 'ann'), [{ path: '/home/ann', perms: 'rw' }]);
      await a.insertToken(tokenRow('t1', 'u1', 'secret-1'));
      expect(await b.userByName('ann')).toMatchObject({ id: 'u1', home: '/home/ann', max_sessions: 2, disabled: 0 });
      expect(await b.grantsOf('u1')).toEqual([{ user_id: 'u1', path: '/home/ann', perms: 'rw' }]);
      expect(await b.tokenById('t1')).toMatchObject({ secret_hash: h('secret-1'), revoked_at: null });
      expect(await b.revokeToken('t1', clock)).toBe(true);
      expect((await a.tokenById('t1'))?.revoked_at).toBe(clock);
      expect(await a.revokeToken('t1', clock)).toBe(false); // once only
      await b.updateUser('u1', { disabled: 1 });
      expect((await a.userById('u1'))?.disabled).toBe(1);
      await expect(a.insertToken(tokenRow('t1', 'u1', 'again'))).rejects.toThrow(); // ids are unique
    });

    it('makes the admin user once and gives its token a new secret, unrevoked, at each start', async () => {
      const a = new AuthStore(store);
      const admin = { id: 'adm', name: 'admin', role: 'admin' as const, password_hash: null, home: '/', created_at: clock };
      await a.ensureUser(admin);
      await a.updateUser('adm', { quota_files: 5 });
      await a.ensureUser(admin); // a restart leaves the row alone
      expect(await a.userById('adm')).toMatchObject({ quota_files: 5, disabled: 0, max_sessions: null });
      await a.upsertToken({ ...tokenRow('env', 'adm', 'first'), scopes: '*' });
      await a.revokeToken('env', clock);
      await a.upsertToken({ ...tokenRow('env', 'adm', 'second'), scopes: '*' });
      expect(await a.tokenById('env')).toMatchObject({ secret_hash: h('second'), revoked_at: null });
      await a.touchToken('env', clock + 5);
      expect((await a.tokenById('env'))?.last_used_at).toBe(clock + 5);
    });

    it('rotates a web session for one of two nodes refreshing it at once', async () => {
      const a = new AuthStore(store);
      const b = new AuthStore(await node());
      await a.createUser(userRow('u2', 'bea'), []);
      await a.insertSession({ id: 's1', user_id: 'u2', refresh_hash: h('r0'), prev_refresh_hash: null, created_at: clock, refreshed_at: clock, expires_at: clock + 1000, revoked_at: null, ip: null });
      const won = await Promise.all([a.rotateSession('s1', h('r0'), h('ra'), clock), b.rotateSession('s1', h('r0'), h('rb'), clock)]);
      expect(won.filter(Boolean)).toHaveLength(1);
      const row = await a.sessionById('s1');
      expect(row?.prev_refresh_hash).toBe(h('r0'));
      expect(row?.refresh_hash).toBe(won[0] ? h('ra') : h('rb'));
      await b.revokeUserSessions('u2', clock);
      expect(await a.rotateSession('s1', row!.refresh_hash, h('rc'), clock)).toBe(false); // revoked
    });

    it('deletes a user with their grants, tokens, sessions and upload sessions, and keeps their files', async () => {
      const a = new AuthStore(store);
      await a.createUser(userRow('u3', 'cy'), [{ path: '/home/cy', perms: 'rw' }]);
      await a.insertToken(tokenRow('t3', 'u3', 's3'));
      await upload('/home/cy/kept', [chunk('cy')]);
      const open = await store.createUpload({ owner: 'u3', noOverwrite: false, ttlMs: 60_000, files: [{ path: '/home/cy/open', size: 10, hash: fileHashOf([chunk('cy-open')]), chunks: [chunk('cy-open')] }] });
      await a.deleteUser('u3');
      expect(await a.userById('u3')).toBeUndefined();
      expect(await a.grantsOf('u3')).toEqual([]);
      expect(await a.tokenById('t3')).toBeUndefined();
      await expectCode(store.getUpload(open.id), 'FERRY_ERR_UPLOAD_NOT_FOUND');
      expect((await store.stat('/home/cy/kept')).size).toBe(10);
    });

    it('keeps the defender bans every node sees, lengthened and never shortened, until lifted or purged', async () => {
      const a = new BanStore(store.db);
      const b = new BanStore((await node()).db);
      await a.put({ ip: '192.0.2.1', since: clock, until: clock + 100 });
      await b.put({ ip: '192.0.2.1', since: clock, until: clock + 50 });
      await b.put({ ip: '192.0.2.2', since: clock, until: clock + 500 });
      const byIp = async (s: BanStore) => Object.fromEntries((await s.all()).map((r) => [r.ip, r.until]));
      expect(await byIp(b)).toEqual({ '192.0.2.1': clock + 100, '192.0.2.2': clock + 500 });
      await a.put({ ip: '192.0.2.1', since: clock, until: clock + 200 });
      await b.remove('192.0.2.2');
      expect(await byIp(a)).toEqual({ '192.0.2.1': clock + 200 });
      await a.purge(clock + 200); // ended before: nothing
      expect(await byIp(b)).toEqual({ '192.0.2.1': clock + 200 });
      await a.purge(clock + 201);
      expect(await b.all()).toEqual([]);
    });

    it('keeps plain names and plain files out of a vault (the vault guard), on every node', async () => {
      // Chunk bytes as the server's chunk store would give them: the guard reads a marker's JSON and a file's first bytes.
      const bytes = new Map<string, Buffer>();
      const ref = (b: Buffer): ChunkRef => {
        const hash = createHash('sha256').update(b).digest('hex');
        bytes.set(hash, b);
        return { hash, size: b.length };
      };
      const reader = async (hash: string) => bytes.get(hash) ?? Buffer.alloc(0);
      store.setChunkReader(reader);
      const kdf = { name: 'scrypt', N: 16384, r: 8, p: 1, salt: 'c2FsdA' };
      const vaultMarker = ref(Buffer.from(JSON.stringify({ ferryE2e: 1, kdf, check: 'Y2hlY2s', vault: true })));
      const sealed = ref(Buffer.concat([Buffer.from('FERRYE2E\x01'), Buffer.alloc(40, 7)]));
      const plain = ref(Buffer.from('plain bytes, not an end-to-end file'));
      const name = (c: string) => c.repeat(40) + '.fe2e';
      await upload('/v/.ferry-e2e', [vaultMarker]);
      await expectCode(upload('/v/notes.txt', [sealed]), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      await expectCode(upload(`/v/${name('A')}`, [plain]), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      await upload(`/v/${name('B')}`, [sealed]);
      await expectCode(store.mkdir('/v/folder'), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      await store.mkdir(`/v/${name('C')}`);
      await upload('/outside.txt', [plain]);
      await expectCode(store.move('/outside.txt', `/v/${name('D')}`), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      await expectCode(store.copy('/outside.txt', `/v/${name('D')}`), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      await expectCode(store.remove('/v/.ferry-e2e'), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      // another node learns the marker from its bytes (nothing cached there yet)
      const other = await node();
      other.setChunkReader(reader);
      await expectCode(other.mkdir('/v/other'), 'FERRY_ERR_E2E_PLAIN_IN_VAULT');
      expect((await store.list('/v', { limit: 100 })).entries.map((e) => e.name).sort()).toEqual(['.ferry-e2e', name('B'), name('C')]);
      // the whole vault goes at once
      await store.remove('/v', { recursive: true });
      await store.move('/outside.txt', '/v2.txt');
    });

    it('lets two nodes create the same directories and commit the same new content at once', async () => {
      const other = await node();
      const same = [chunk('twin-1'), chunk('twin-2')];
      for (const c of same) await store.addChunk(c.hash, c.size);
      const mk = (s: MetaStore, path: string) => s.createUpload({ owner: null, noOverwrite: false, ttlMs: 60_000, files: [{ path, size: 20, hash: fileHashOf(same), chunks: same }] });
      const uploads = await Promise.all([mk(store, '/deep/a/b/one'), mk(other, '/deep/a/b/two'), mk(store, '/deep/a/c/three'), mk(other, '/deep/a/c/four')]);
      await Promise.all(uploads.map((u, i) => (i % 2 ? other : store).commitUpload(u.id)));
      const { entries } = await store.list('/deep', { recursive: true, limit: 100 });
      expect(entries.filter((e) => e.type === 'file').map((e) => e.name).sort()).toEqual(['four', 'one', 'three', 'two']);
      const m = await store.db.selectFrom('manifests').select('refs').where('hash', '=', fileHashOf(same)).executeTakeFirstOrThrow();
      expect(m.refs).toBe(4);
      expect(await chunkRefs(h('twin-1'))).toBe(1);
    });
  });
}
