/** ChunkStore.readMany over a real (in-memory) backend and a real SQLite index: runs of a pack read at once, every chunk verified. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { isFerryError } from '../core/errors.js';
import type { StorageBackend } from '../core/storage.js';
import { LocalBackend } from '../backends/local/index.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { countingDirFsyncs } from '../../test/helpers/dir-fsyncs.js';
import { packBody } from '../../test/helpers/packs.js';
import { compress } from 'zstd-napi';
import { ChunkStore, plainAreaAllocations } from './chunk-store.js';
import { MetaStore, type ChunkLocation } from './meta-store.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The real memory backend, with its ranged reads counted. */
class CountingMemoryBackend extends MemoryBackend {
  override async readRange(key: string, offset: number, length: number, options?: Parameters<MemoryBackend['readRange']>[3]): Promise<Buffer> {
    reads.push({ key, offset, length });
    return super.readRange(key, offset, length, options);
  }
}

let dir: string;
let meta: MetaStore;
let backend: StorageBackend;
let store: ChunkStore;
let reads: Array<{ key: string; offset: number; length: number }>;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ferry-chunks-'));
  meta = await MetaStore.openSqlite(join(dir, 'meta.db'));
  reads = [];
  backend = new CountingMemoryBackend();
  store = new ChunkStore({ backend, meta, maxChunkSize: 1024 * 1024 });
});
afterEach(async () => {
  await meta.close();
  rmSync(dir, { recursive: true, force: true });
});

async function putPack(chunks: Buffer[]): Promise<void> {
  await store.putPack(Readable.from([packBody(chunks)]), 64 * 1024 * 1024);
}

/** A pack put as the upload route puts it: answered once durable, indexed later with others. */
function deferPack(chunks: Buffer[], owner?: string): ReturnType<ChunkStore['putPack']> {
  return store.putPack(Readable.from([packBody(chunks)]), 64 * 1024 * 1024, undefined, undefined, { defer: true, ...(owner !== undefined ? { owner } : {}) });
}

async function locations(chunks: Buffer[]): Promise<ChunkLocation[]> {
  const where = await meta.chunkLocations(chunks.map(sha));
  return chunks.map((c) => where.get(sha(c))!);
}

describe('ChunkStore.readMany', () => {
  it('reads neighbours in a pack with one ranged read, in the order asked, loose chunks too', async () => {
    const packed = Array.from({ length: 50 }, (_, i) => randomBytes(100 + i * 30));
    await putPack(packed);
    const loose = randomBytes(5000);
    await store.put(sha(loose), loose.length, Readable.from([loose]));
    // every other chunk of the pack (gaps are read and dropped), backwards, and the loose one
    const wanted = [loose, ...packed.filter((_, i) => i % 2 === 0).reverse()];
    const got = await store.readMany(await locations(wanted));
    expect(got.map((b, i) => b.equals(wanted[i]))).toEqual(wanted.map(() => true));
    expect(reads.filter((r) => r.key.startsWith('packs/'))).toHaveLength(1);
  });

  it('names the damaged chunk of a run', async () => {
    const packed = Array.from({ length: 10 }, () => randomBytes(700));
    await putPack(packed);
    const locs = await locations(packed);
    const key = ChunkStore.packKey(locs[0].pack!);
    const object = await (backend as CountingMemoryBackend).readRange(key, 0, 7000);
    object[locs[6].offset! + 1] ^= 0x01;
    await backend.write(key, Readable.from([object]), { size: object.length });
    const err = await store.readMany(locs).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_CHUNK_CORRUPT')).toBe(true);
    expect((err as { details?: { hash?: string } }).details?.hash).toBe(sha(packed[6]));
  });

  it('reports a pack object gone as a corrupt chunk', async () => {
    const packed = Array.from({ length: 4 }, () => randomBytes(300));
    await putPack(packed);
    const locs = await locations(packed);
    await backend.delete(ChunkStore.packKey(locs[0].pack!));
    const err = await store.readMany(locs).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_CHUNK_CORRUPT')).toBe(true);
  });
});

describe('ChunkStore: a chunk stored again', () => {
  const exists = async (key: string): Promise<boolean> => backend.stat(key).then(() => true, () => false);

  it('sent in a pack after it was loose: the index points into the pack, the loose object goes', async () => {
    const c = randomBytes(900);
    expect(await store.put(sha(c), c.length, Readable.from([c]), undefined, { owner: 'u1' })).toBe(true);
    const stale = await locations([c]);
    expect(stale[0].pack).toBeNull();
    await putPack([c]);
    await store.settled();
    const [now] = await locations([c]);
    expect(now.pack).not.toBeNull();
    expect(await exists(ChunkStore.chunkKey(sha(c)))).toBe(false);
    // A reader still holding the old location reads the chunk where it is now.
    expect((await store.readMany(stale))[0].equals(c)).toBe(true);
    expect((await store.read(sha(c))).equals(c)).toBe(true);
  });

  it('sent loose after it was in a pack: the pack, left with no chunk, goes with the next garbage collection', async () => {
    const parts = [randomBytes(300), randomBytes(400)];
    await putPack(parts);
    const [a] = await locations(parts);
    for (const p of parts) await store.put(sha(p), p.length, Readable.from([p]));
    expect((await locations(parts)).every((l) => l.pack === null)).toBe(true);
    expect(await exists(ChunkStore.packKey(a.pack!))).toBe(true);
    await meta.db.updateTable('packs').set({ created_at: 0 }).execute();
    expect(await store.collectGarbage(60_000, Date.now())).toEqual({ chunks: 0, packs: 1 }); // the chunks themselves are new: kept
    expect(await exists(ChunkStore.packKey(a.pack!))).toBe(false);
    for (const p of parts) expect((await store.read(sha(p))).equals(p)).toBe(true);
  });

  it('tells a sender only whether the chunk was already theirs', async () => {
    const c = randomBytes(500);
    expect(await store.put(sha(c), c.length, Readable.from([c]), undefined, { owner: 'ann' })).toBe(true);
    expect(await store.put(sha(c), c.length, Readable.from([c]), undefined, { owner: 'bob' })).toBe(true);
    expect(await store.put(sha(c), c.length, Readable.from([c]), undefined, { owner: 'ann' })).toBe(false);
  });
});

describe('ChunkStore.putPack, deferred (packs indexed together)', () => {
  const indexed = async (chunks: Buffer[]): Promise<boolean[]> => {
    const where = await meta.chunkLocations(chunks.map(sha));
    return chunks.map((c) => where.has(sha(c)));
  };

  it('answers once the pack is stored, and indexes the packs that came meanwhile in one transaction at the flush', async () => {
    const packs = Array.from({ length: 3 }, () => [randomBytes(300), randomBytes(500)]);
    const before = store.packIndexTransactions;
    const answers = [];
    for (const p of packs) answers.push(await deferPack(p, 'ann'));
    expect(answers).toEqual(packs.map(() => ({ stored: 2, duplicates: 0, bytes: 800 })));
    // Stored, not yet indexed: a commit would not find them before it flushes.
    const objects = [];
    for await (const e of backend.list('packs', { recursive: true })) objects.push(e);
    expect(objects).toHaveLength(3);
    expect(await indexed(packs.flat())).toEqual([false, false, false, false, false, false]);
    await store.flush();
    expect(await indexed(packs.flat())).toEqual([true, true, true, true, true, true]);
    expect(store.packIndexTransactions - before).toBe(1);
    for (const c of packs.flat()) expect((await store.read(sha(c))).equals(c)).toBe(true);
  });

  it('tells the owner which chunks were theirs already, counting their packs not yet indexed', async () => {
    const [a, b, c] = [randomBytes(100), randomBytes(200), randomBytes(300)];
    expect(await deferPack([a, b], 'ann')).toMatchObject({ stored: 2, duplicates: 0 });
    expect(await deferPack([b, c], 'ann')).toMatchObject({ stored: 1, duplicates: 1 }); // b: in ann's pack waiting
    expect(await deferPack([b, c], 'bob')).toMatchObject({ stored: 2, duplicates: 0 }); // not bob's
    await store.flush();
    expect(await deferPack([a, c], 'ann')).toMatchObject({ stored: 0, duplicates: 2 }); // indexed now
    expect(await deferPack([a], 'bob')).toMatchObject({ stored: 1, duplicates: 0 });
    await store.flush();
  });

  it('indexes at once the packs holding a chunk someone reads, or that a session asks about', async () => {
    const [a, b] = [randomBytes(100), randomBytes(200)];
    await deferPack([a]);
    await deferPack([b]);
    expect((await store.read(sha(a))).equals(a)).toBe(true);
    expect(await indexed([a, b])).toEqual([true, true]);
    const c = randomBytes(300);
    await deferPack([c]);
    await store.flushChunks([sha(randomBytes(10))]); // not in a waiting pack: nothing to do
    expect(await indexed([c])).toEqual([false]);
    await store.flushChunks([sha(c)]);
    expect(await indexed([c])).toEqual([true]);
  });

  it('indexes waiting packs without a flush: a full group at once, a lone pack after a while', async () => {
    const before = store.packIndexTransactions;
    const packs = Array.from({ length: 16 }, () => [randomBytes(64)]);
    for (const p of packs) await deferPack(p);
    await vi.waitFor(async () => expect((await indexed(packs.flat())).every(Boolean)).toBe(true));
    expect(store.packIndexTransactions - before).toBe(1);
    const lone = [randomBytes(64)];
    await deferPack(lone);
    expect(await indexed(lone)).toEqual([false]);
    await vi.waitFor(async () => expect(await indexed(lone)).toEqual([true]), { timeout: 5000 });
  });
});

describe('ChunkStore.putPack, the body in pieces', () => {
  it('takes frames whole in a piece or split across pieces alike, and refuses a frame whose bytes do not match its hash either way', async () => {
    const chunks = Array.from({ length: 12 }, (_, i) => randomBytes(1 + i * 97));
    const body = packBody(chunks);
    // Pieces of every size from 1 byte to the whole body: frames inside one piece, headers and bytes cut anywhere.
    for (const piece of [1, 7, 36, 37, 500, body.length]) {
      const pieces = [];
      for (let at = 0; at < body.length; at += piece) pieces.push(Buffer.from(body.subarray(at, at + piece)));
      const result = await store.putPack(Readable.from(pieces), 64 * 1024 * 1024);
      expect(result.bytes, `pieces of ${piece}`).toBe(chunks.reduce((a, c) => a + c.length, 0));
    }
    for (const c of chunks) expect((await store.read(sha(c))).equals(c)).toBe(true);
    const bad = Buffer.from(body);
    bad[bad.length - 1] ^= 1; // the last chunk's last byte
    for (const pieces of [[bad], [bad.subarray(0, bad.length - 5), bad.subarray(bad.length - 5)]]) {
      const err = await store.putPack(Readable.from(pieces), 64 * 1024 * 1024).catch((e: unknown) => e);
      expect(isFerryError(err) && err.code).toBe('FERRY_ERR_HASH_MISMATCH');
    }
  });
});

describe('ChunkStore: delta bases kept between a signature and its delta', () => {
  it('keeps a base read for a delta, and lets it go on dropKept (the idle settle): the next delta reads it again', async () => {
    const c = randomBytes(64 * 1024);
    await store.put(sha(c), c.length, Readable.from([c]));
    await store.settled();
    const fromBackend = vi.spyOn(backend, 'read');
    expect((await store.readBase(sha(c))).equals(c)).toBe(true);
    const readsOfFirst = fromBackend.mock.calls.length + reads.length;
    expect(readsOfFirst).toBeGreaterThan(0);
    expect(store.keptBaseBytes).toBe(c.length);
    // Kept: the delta that follows its signature reads nothing.
    expect((await store.readBase(sha(c))).equals(c)).toBe(true);
    expect(fromBackend.mock.calls.length + reads.length).toBe(readsOfFirst);

    store.dropKept();
    expect(store.keptBaseBytes).toBe(0);
    expect((await store.readBase(sha(c))).equals(c)).toBe(true);
    expect(fromBackend.mock.calls.length + reads.length).toBe(2 * readsOfFirst);
    expect(store.keptBaseBytes).toBe(c.length);
  });

  it('lets go of its free read buffers on dropKept: the next lent chunk is read into a new one', async () => {
    // The local backend reads into the store's pooled buffer (the memory backend has its own).
    const store = new ChunkStore({ backend: new LocalBackend({ root: join(dir, 'data') }), meta, maxChunkSize: 1024 * 1024 });
    const c = randomBytes(64 * 1024);
    await store.put(sha(c), c.length, Readable.from([c]));
    await store.settled();
    const first = await store.lend(sha(c));
    const pooled = first.data.buffer;
    expect(pooled).toBeInstanceOf(SharedArrayBuffer);
    first.release();
    // Given back, it is reused...
    const again = await store.lend(sha(c));
    expect(again.data.buffer).toBe(pooled);
    again.release();
    // ...until the idle settle drops it (kept, a 1 GiB download left ~100 MB of them for good).
    store.dropKept();
    const after = await store.lend(sha(c));
    expect(after.data.equals(c)).toBe(true);
    expect(after.data.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(after.data.buffer === pooled).toBe(false);
    after.release();
  });
});

/** Text-like bytes that compress well, different per `seed`. */
function logLines(seed: number, bytes: number): Buffer {
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += `{"seed":${seed},"n":${i},"level":"info","msg":"request served","ms":${(i * 7919) % 1000}}\n`;
  return Buffer.from(s.slice(0, bytes));
}

describe('ChunkStore.put of zstd frames (Content-Encoding: zstd)', () => {
  it('decompresses every frame into one reused buffer to verify it, and keeps each frame as it came', async () => {
    store.dropKept();
    const before = plainAreaAllocations();
    const chunks = Array.from({ length: 8 }, (_, i) => logLines(i, 256 * 1024 - i * 1000));
    for (const c of chunks) await store.put(sha(c), c.length, Readable.from([compress(c)]), undefined, { encoding: 'zstd' });
    // The first frame allocates the buffer, the seven after it reuse it (a buffer each cost the
    // 256 MiB of workload 7 ~0.5 s of the server's thread in allocation and collection).
    expect(plainAreaAllocations() - before).toBe(1);
    for (const c of chunks) expect((await store.read(sha(c))).equals(c)).toBe(true);
    // A frame whose bytes are not the chunk's is still refused.
    const other = logLines(99, 1000);
    await expect(store.put(sha(chunks[0]), other.length, Readable.from([compress(other)]), undefined, { encoding: 'zstd' })).rejects.toMatchObject({ code: 'FERRY_ERR_HASH_MISMATCH' });
    // The idle settle lets go of it: the next frame allocates it again.
    store.dropKept();
    const next = logLines(100, 4096);
    await store.put(sha(next), next.length, Readable.from([compress(next)]), undefined, { encoding: 'zstd' });
    expect(plainAreaAllocations() - before).toBe(2);
  });

  it('stores a frame as long as its chunk raw, copied out of the reused buffer before the next frame lands there', async () => {
    // Bytes whose zstd frame is exactly as long as they are: a block of random bytes (stored
    // raw in the frame), then zeros (one short block) until the frame is as long.
    const head = randomBytes(128 * 1024);
    let exact: { data: Buffer; frame: Buffer } | undefined;
    for (let zeros = 0; zeros < 200 && !exact; zeros++) {
      const data = Buffer.concat([head, Buffer.alloc(zeros)]);
      const frame = compress(data);
      if (frame.length === data.length) exact = { data, frame };
    }
    expect(exact).toBeDefined();
    const { data, frame } = exact!;
    const later = Array.from({ length: 4 }, (_, i) => logLines(200 + i, data.length));
    // Side by side, as concurrent PUTs come: the later frames are decompressed while the first is written.
    await Promise.all([
      store.put(sha(data), data.length, Readable.from([frame]), undefined, { encoding: 'zstd' }),
      ...later.map((c) => store.put(sha(c), c.length, Readable.from([compress(c)]), undefined, { encoding: 'zstd' })),
    ]);
    for (const c of [data, ...later]) expect((await store.read(sha(c))).equals(c)).toBe(true);
  });
});

describe('ChunkStore.put, deferred on a staging backend (grouped durability)', () => {
  /** A local backend whose first publication waits for `release`, so the chunks put meanwhile form one batch. */
  function heldStore(): { store: ChunkStore; local: LocalBackend; release: () => void } {
    const local = new LocalBackend({ root: join(dir, 'data') });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const publish = local.publish.bind(local);
    let first = true;
    vi.spyOn(local, 'publish').mockImplementation(async (objects, options) => {
      if (first) {
        first = false;
        await held;
      }
      return publish(objects, options);
    });
    return { store: new ChunkStore({ backend: local, meta, maxChunkSize: 1024 * 1024 }), local, release };
  }

  it('indexes the chunks of several publications in one transaction once their directories are fsynced, each answer as alone', async () => {
    const { store, local, release } = heldStore();
    const chunks = Array.from({ length: 5 }, () => randomBytes(1000));
    const batch = vi.spyOn(meta, 'addChunks');
    await store.put(sha(chunks[0]), 1000, chunks[0], undefined, { defer: true, owner: 'ann' });
    // Ann's own chunk again: indexed twice, not new to her the second time.
    for (const c of [...chunks.slice(1), chunks[1]]) await store.put(sha(c), 1000, c, undefined, { defer: true, owner: 'ann' });
    release();
    await store.flush();
    // Two publications (the first chunk alone, then the rest), sealed together at the flush.
    expect(local.publish).toHaveBeenCalledTimes(2);
    expect(batch).toHaveBeenCalledTimes(1);
    expect(batch.mock.calls[0][0].map((c) => c.hash)).toEqual([...chunks, chunks[1]].map(sha));
    expect(await batch.mock.results[0].value).toEqual([{ fresh: true }, { fresh: true }, { fresh: true }, { fresh: true }, { fresh: true }, { previous: { pack: null, store: null }, fresh: false }]);
    for (const c of chunks) expect((await store.read(sha(c))).equals(c)).toBe(true);
    expect(await meta.ownedChunks('ann', chunks.map(sha))).toEqual(new Set(chunks.map(sha)));
  });

  it('indexes a batch one by one when its transaction fails: a chunk the index refuses fails alone', async () => {
    const { store, local, release } = heldStore();
    const chunks = Array.from({ length: 4 }, () => randomBytes(1000));
    const refused = sha(chunks[2]);
    const addChunks = meta.addChunks.bind(meta);
    vi.spyOn(meta, 'addChunks').mockImplementation(async (batch, ...rest) => {
      if (batch.length > 1) throw new Error('the batch failed');
      if (batch[0].hash === refused) throw new Error('the index refused it');
      return addChunks(batch, ...rest);
    });
    await store.put(sha(chunks[0]), 1000, chunks[0], undefined, { defer: true });
    for (const c of chunks.slice(1)) await store.put(sha(c), 1000, c, undefined, { defer: true });
    release();
    await store.flush();
    const where = await meta.chunkLocations(chunks.map(sha));
    expect(chunks.map((c) => where.has(sha(c)))).toEqual([true, true, false, true]);
    // Published but not indexed: its object is gone too.
    await expect(local.stat(ChunkStore.chunkKey(refused))).rejects.toMatchObject({ code: 'FERRY_ERR_NOT_FOUND' });
    for (const c of [chunks[0], chunks[1], chunks[3]]) expect((await store.read(sha(c))).equals(c)).toBe(true);
  });
});

/** `perDir` random chunks for each of `dirs` fan-out directories (hashes sharing their first two hex digits). */
function chunksInDirs(dirs: number, perDir: number): Buffer[] {
  const byPrefix = new Map<string, Buffer[]>();
  for (;;) {
    const c = randomBytes(64);
    const prefix = sha(c).slice(0, 2);
    byPrefix.set(prefix, [...(byPrefix.get(prefix) ?? []), c]);
    const full = [...byPrefix.values()].filter((list) => list.length >= perDir);
    if (full.length >= dirs) return full.slice(0, dirs).flatMap((list) => list.slice(0, perDir));
  }
}

/** A chunk store on the server's kind of local store (no pinned directories), its publications kept in `published`; by default nothing is sealed for its age. */
function localStore(sealAgeMs = 3600_000): { store: ChunkStore; local: LocalBackend; published: Promise<unknown>[] } {
  const local = new LocalBackend({ root: join(dir, 'data'), pinDirs: false });
  const publish = local.publish.bind(local);
  const published: Promise<unknown>[] = [];
  vi.spyOn(local, 'publish').mockImplementation((objects, options) => {
    const done = publish(objects, options);
    published.push(done);
    return done;
  });
  return { store: new ChunkStore({ backend: local, meta, maxChunkSize: 1024 * 1024, sealAgeMs }), local, published };
}

describe('ChunkStore.put, deferred on a local store: directories fsynced in groups', () => {
  it('fsyncs each directory once for the chunks of many publications: nine chunks in three directories, published one by one, cost three directory fsyncs (nine before), and the new directories\' entries once', async () => {
    const { store, published } = localStore();
    const all = chunksInDirs(3, 6);
    // Three of each directory's six in each round.
    const rounds = [all.filter((_, i) => i % 6 < 3), all.filter((_, i) => i % 6 >= 3)];
    const fsyncsOf = (chunks: Buffer[]) =>
      countingDirFsyncs(async (counter) => {
        for (const c of chunks) {
          const before = published.length;
          await store.put(sha(c), c.length, c, undefined, { defer: true });
          await vi.waitFor(() => expect(published).toHaveLength(before + 1));
          await published[before];
        }
        // Each chunk durable and in place, alone in its publication, but its name not yet known durable: not indexed.
        expect((await meta.chunkLocations(chunks.map(sha))).size).toBe(0);
        await store.flush();
        return counter.calls;
      });
    // The first stage made the store's root (its entry fsynced as it is made), then the stages
    // made `chunks/` and the three fan-out directories: `chunks/` is fsynced for theirs once,
    // and the store's root for `chunks/`.
    expect(await fsyncsOf(rounds[0])).toBe(3 + 3);
    // The same directories again: their entries are durable already.
    expect(await fsyncsOf(rounds[1])).toBe(3);
    expect((await meta.chunkLocations(all.map(sha))).size).toBe(18);
    for (const c of all) expect((await store.read(sha(c))).equals(c)).toBe(true);
  });

  it('a flush (what a commit waits for) resolves only once the directories are fsynced, and indexes nothing before', async () => {
    const { store, local } = localStore();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const syncDirectories = local.syncDirectories.bind(local);
    let asked = 0;
    vi.spyOn(local, 'syncDirectories').mockImplementation(async (objects) => {
      asked++;
      await held;
      return syncDirectories(objects);
    });
    const chunks = [randomBytes(5000), randomBytes(6000)];
    for (const c of chunks) await store.put(sha(c), c.length, c, undefined, { defer: true });
    let flushed = false;
    const flushing = store.flush().then(() => (flushed = true));
    await vi.waitFor(() => expect(asked).toBe(1));
    expect(flushed).toBe(false);
    expect((await meta.chunkLocations(chunks.map(sha))).size).toBe(0);
    release();
    await flushing;
    expect((await meta.chunkLocations(chunks.map(sha))).size).toBe(2);
  });

  it('a directory whose fsync fails leaves its chunks unindexed (a commit then finds them missing); the others are indexed', async () => {
    const { store, local } = localStore();
    const [bad, good] = chunksInDirs(2, 1);
    const syncDirectories = local.syncDirectories.bind(local);
    vi.spyOn(local, 'syncDirectories').mockImplementation(async (objects) => {
      const results = await syncDirectories(objects);
      return objects.map((o, i) => (o.key.endsWith(sha(bad)) ? new Error('EIO: injected') : results[i]));
    });
    for (const c of [bad, good]) await store.put(sha(c), c.length, c, undefined, { defer: true });
    await store.flush();
    expect([...(await meta.chunkLocations([sha(bad), sha(good)])).keys()]).toEqual([sha(good)]);
  });

  it('a PUT that is not deferred answers once its chunk is sealed; chunks nobody waits for are sealed after a while', async () => {
    const { store } = localStore(500);
    const [first, second] = [randomBytes(3000), randomBytes(4000)];
    expect(await store.put(sha(first), first.length, first)).toBe(true);
    expect((await meta.chunkLocations([sha(first)])).size).toBe(1);
    await store.put(sha(second), second.length, second, undefined, { defer: true });
    await vi.waitFor(async () => expect((await meta.chunkLocations([sha(second)])).size).toBe(1), { timeout: 15_000, interval: 100 });
  });
});

describe('ChunkStore.putPack: the frames reach the backend as they were made', () => {
  /** The memory backend, noting the size of each piece of a body it is given to write. */
  class PieceCountingBackend extends MemoryBackend {
    readonly pieces: number[] = [];

    override async write(key: string, body: Parameters<MemoryBackend['write']>[1], options?: Parameters<MemoryBackend['write']>[2]): ReturnType<MemoryBackend['write']> {
      const parts: Buffer[] = [];
      for await (const piece of body as AsyncIterable<Buffer>) {
        this.pieces.push(piece.length);
        parts.push(Buffer.from(piece));
      }
      return super.write(key, Buffer.concat(parts), options);
    }
  }

  it('each frame header and each frame body is a piece of its own, not joined with others into a new buffer', async () => {
    const counting = new PieceCountingBackend();
    const packs = new ChunkStore({ backend: counting, meta, maxChunkSize: 1024 * 1024 });
    // Random bytes: zstd does not pay, so each chunk is stored as a header and its bytes.
    const chunks = Array.from({ length: 50 }, () => randomBytes(100));
    const result = await packs.putPack(Readable.from([packBody(chunks)]), 64 * 1024 * 1024);
    expect(result.bytes).toBe(5000);
    // A readable side of bytes joined whatever was pushed before the writer's next pull
    // (here all 50 frames: one piece of 5,800 bytes), a copy of every pack on the event loop.
    expect(Math.max(...counting.pieces)).toBeLessThanOrEqual(100);
    expect(counting.pieces.reduce((a, n) => a + n, 0)).toBeGreaterThanOrEqual(5000);
    for (const c of chunks) expect((await packs.read(sha(c))).equals(c)).toBe(true);
  });
});

describe('ChunkStore.putPack: a slow writer holds the body back', () => {
  /** The memory backend, taking each piece a turn of the event loop after the one before, and noting how far the body was read by then. */
  class SlowBackend extends MemoryBackend {
    readonly ahead: number[] = [];
    received = 0;

    constructor(private readonly pulled: () => number) {
      super();
    }

    override async write(key: string, body: Parameters<MemoryBackend['write']>[1], options?: Parameters<MemoryBackend['write']>[2]): ReturnType<MemoryBackend['write']> {
      const parts: Buffer[] = [];
      for await (const piece of body as AsyncIterable<Buffer>) {
        this.received += piece.length;
        this.ahead.push(this.pulled() - this.received);
        parts.push(Buffer.from(piece));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      return super.write(key, Buffer.concat(parts), options);
    }
  }

  it('reads the body at most a few frames ahead of what the writer has taken', async () => {
    const chunks = Array.from({ length: 24 }, () => randomBytes(256 * 1024));
    const body = packBody(chunks);
    let pulled = 0;
    const pieces = function* () {
      for (let at = 0; at < body.length; at += 64 * 1024) {
        const piece = body.subarray(at, Math.min(at + 64 * 1024, body.length));
        pulled += piece.length;
        yield piece;
      }
    };
    const slow = new SlowBackend(() => pulled);
    const packs = new ChunkStore({ backend: slow, meta, maxChunkSize: 1024 * 1024 });
    const result = await packs.putPack(Readable.from(pieces()), 64 * 1024 * 1024);
    expect(result.bytes).toBe(24 * 256 * 1024);
    // The frames waiting for the writer, the one being put together and the streams' own
    // buffers of the body's pieces: 0.39 MB (0.13 MB with the parser's byte side of 16 KiB;
    // 2.2 MB with a readable side of sixteen objects, object mode's default).
    expect(Math.max(...slow.ahead)).toBeLessThan(1024 * 1024);
  });
});
