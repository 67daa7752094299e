/** ChunkStore.readMany over a real (in-memory) backend and a real SQLite index: runs of a pack read at once, every chunk verified. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { PACK_FRAME_HEADER_BYTES } from '../core/protocol.js';
import type { StorageBackend } from '../core/storage.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { ChunkStore } from './chunk-store.js';
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
  const body = Buffer.concat(
    chunks.flatMap((c) => {
      const head = Buffer.alloc(PACK_FRAME_HEADER_BYTES);
      head.write(sha(c), 0, 32, 'hex');
      head.writeUInt32BE(c.length, 32);
      return [head, c];
    }),
  );
  await store.putPack(Readable.from([body]), 64 * 1024 * 1024);
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
