/** Small files copied in groups (copyBatch): the slabs they are read into, and the writer's room before each file. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalBackend } from '../backends/local/index.js';
import { MemoryBackend } from '../backends/memory/index.js';
import { ProgressTracker } from '../core/progress.js';
import type { BatchWriteItem, BatchWriteLimits } from '../core/storage-bulk.js';
import type { ObjectInfo, OpOptions } from '../core/storage.js';
import { retryPolicy } from './decorated.js';
import { makeRemote } from './remote.js';
import { copyBatch, GroupSlabs, slabLayout, type BatchFile } from './transfer.js';

const scratch = await mkdtemp(path.join(tmpdir(), 'ferry-batch-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

const files = (sizes: number[]): BatchFile[] => sizes.map((size, i) => ({ rel: `f${i}`, entry: { size, mtime: 1_700_000_000_000, hashes: {} } }));

describe('slabLayout', () => {
  it('puts the writer’s room before each file, the files one after another, and one spare byte at the end', () => {
    expect(slabLayout(files([10, 0, 5]), 36)).toEqual({ at: [36, 36 + 10 + 36, 36 + 10 + 36 + 0 + 36], bytes: 36 * 3 + 15 + 1 });
  });

  it('without room, leaves one byte after each file for the read past its end', () => {
    expect(slabLayout(files([10, 0, 5]), 0)).toEqual({ at: [0, 11, 12], bytes: 18 + 1 });
  });
});

describe('GroupSlabs', () => {
  it('hands out a slab of at least `capacity`, the same one again once given back, and keeps at most `keep`', () => {
    const slabs = new GroupSlabs(1, 100);
    const a = slabs.take(10);
    expect(a.length).toBe(100);
    slabs.give(a);
    expect(slabs.take(100)).toBe(a);
    const big = slabs.take(500);
    expect(big.length).toBe(500);
    slabs.give(a);
    slabs.give(big);
    expect(slabs.kept).toBe(1);
    expect(slabs.take(1)).toBe(a);
  });
});

/**
 * A batch writer over a memory backend that keeps copies of what it is given and, like a
 * Ferry server's pack, writes into the room before each item that has it (0xEE bytes).
 * `fail`: the batch fails as a whole (the caller then writes file by file).
 */
class RoomyWriter extends MemoryBackend {
  readonly batches: number[] = [];
  readonly roomSeen: boolean[] = [];
  /** The buffers the items with room were read into. */
  readonly slabs = new Set<ArrayBufferLike>();

  constructor(
    private readonly room: number,
    private readonly fail = false,
  ) {
    super();
  }

  async batchWriteLimits(): Promise<BatchWriteLimits> {
    return { maxObjectSize: 1 << 20, maxObjects: 3, maxBytes: 1 << 20, ...(this.room > 0 ? { headroom: this.room } : {}) };
  }

  async writeBatch(items: readonly BatchWriteItem[], options: OpOptions = {}): Promise<ObjectInfo[]> {
    this.batches.push(items.length);
    if (this.fail) throw new Error('the whole batch failed');
    const out: ObjectInfo[] = [];
    for (const it of items) {
      this.roomSeen.push(it.headroom === true);
      if (it.headroom === true) {
        this.slabs.add(it.data.buffer);
        expect(it.data.byteOffset).toBeGreaterThanOrEqual(this.room);
        new Uint8Array(it.data.buffer, it.data.byteOffset - this.room, this.room).fill(0xee);
      }
      out.push(await this.write(it.key, Buffer.from(it.data), { mtime: it.mtime, signal: options.signal }));
    }
    return out;
  }
}

async function sourceOf(sizes: number[]): Promise<{ dir: string; contents: Buffer[] }> {
  const dir = await mkdtemp(path.join(scratch, 'src-'));
  await mkdir(dir, { recursive: true });
  const contents = sizes.map((n) => randomBytes(n));
  await Promise.all(contents.map((c, i) => writeFile(path.join(dir, `f${i}`), c)));
  return { dir, contents };
}

async function copyAll(dir: string, dst: RoomyWriter, batch: BatchFile[]) {
  const outcomes = new Map<string, unknown>();
  const ctx = {
    src: makeRemote(new LocalBackend({ root: dir }), '', dir),
    dst: makeRemote(dst, '', 'roomy'),
    progress: new ProgressTracker(),
    retry: retryPolicy(0),
    windowMs: 1000,
    durable: false,
  };
  await copyBatch(ctx, batch, (f, err) => outcomes.set(f.rel, err));
  return outcomes;
}

describe('copyBatch into a writer with room before each file', () => {
  const sizes = [1, 5000, 300, 0, 64 * 1024, 7, 7, 12_345, 2, 40_000, 999];

  it('gives each file its room, and every file arrives intact over groups that reuse their slabs', async () => {
    const { dir, contents } = await sourceOf(sizes);
    const dst = new RoomyWriter(36);
    const outcomes = await copyAll(dir, dst, files(sizes));
    expect([...outcomes.values()]).toEqual(sizes.map(() => undefined));
    // 11 files, 3 to a batch: 4 groups, 3 in flight, so the fourth reads into a slab used before.
    expect([...dst.batches].sort()).toEqual([2, 3, 3, 3]);
    expect(dst.slabs.size).toBeLessThanOrEqual(3);
    for (let i = 0; i < sizes.length; i++) expect((await dst.readRange(`f${i}`, 0, 1 << 20)).equals(contents[i]), `f${i}`).toBe(true);
    // The empty file is read without a place in the slab: no room for it.
    expect(dst.roomSeen.filter((r) => !r)).toHaveLength(1);
  });

  it('reports a file that grew since the listing; the read past its end does not touch the next file', async () => {
    const { dir, contents } = await sourceOf(sizes);
    const listed = files(sizes);
    listed[1].entry.size -= 1; // listed one byte short: it "grew" by one
    const dst = new RoomyWriter(36);
    const outcomes = await copyAll(dir, dst, listed);
    expect(outcomes.get('f1')).toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
    for (let i = 0; i < sizes.length; i++) {
      if (i === 1) continue;
      expect(outcomes.get(`f${i}`), `f${i}`).toBeUndefined();
      expect((await dst.readRange(`f${i}`, 0, 1 << 20)).equals(contents[i]), `f${i}`).toBe(true);
    }
  });

  it('without room, files are laid out with a spare byte each and none is marked as having room', async () => {
    const { dir, contents } = await sourceOf(sizes);
    const listed = files(sizes);
    listed[2].entry.size -= 1;
    const dst = new RoomyWriter(0);
    const outcomes = await copyAll(dir, dst, listed);
    expect(outcomes.get('f2')).toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });
    expect(dst.roomSeen.every((r) => !r)).toBe(true);
    for (let i = 0; i < sizes.length; i++) if (i !== 2) expect((await dst.readRange(`f${i}`, 0, 1 << 20)).equals(contents[i]), `f${i}`).toBe(true);
  });

  it('a batch that fails as a whole is written file by file, each file intact', async () => {
    const { dir, contents } = await sourceOf(sizes);
    const dst = new RoomyWriter(36, true);
    const outcomes = await copyAll(dir, dst, files(sizes));
    expect([...outcomes.values()]).toEqual(sizes.map(() => undefined));
    for (let i = 0; i < sizes.length; i++) expect((await dst.readRange(`f${i}`, 0, 1 << 20)).equals(contents[i]), `f${i}`).toBe(true);
  });
});
