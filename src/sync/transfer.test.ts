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
import type { BackendFeatures, ObjectInfo, OpOptions, RangeReadOptions } from '../core/storage.js';
import { retryPolicy } from './decorated.js';
import { makeRemote } from './remote.js';
import { copyBatch, GroupSlabs, ReadTurns, slabLayout, type BatchFile } from './transfer.js';

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
    private readonly maxObjects = 3,
  ) {
    super();
  }

  async batchWriteLimits(): Promise<BatchWriteLimits> {
    return { maxObjectSize: 1 << 20, maxObjects: this.maxObjects, maxBytes: 1 << 20, ...(this.room > 0 ? { headroom: this.room } : {}) };
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

async function copyAll(dir: string, dst: RoomyWriter, batch: BatchFile[], src = new LocalBackend({ root: dir })) {
  const outcomes = new Map<string, unknown>();
  const ctx = {
    src: makeRemote(src, '', dir),
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

/** A local source that counts the files it has read, and may say it is behind a network. */
class CountingSource extends LocalBackend {
  filesRead = 0;

  constructor(
    root: string,
    private readonly network = false,
  ) {
    super({ root });
  }

  override features(): BackendFeatures {
    return { ...super.features(), network: this.network };
  }

  override async readRange(key: string, offset: number, length: number, options: RangeReadOptions = {}): Promise<Buffer> {
    const data = await super.readRange(key, offset, length, options);
    this.filesRead++;
    return data;
  }
}

/** A batch writer that notes how many files the source had read when each batch came, and, like a request, waits for a turn of the event loop. */
class WatchingWriter extends RoomyWriter {
  readonly readAtBatch: number[] = [];
  readonly readAfterTurn: number[] = [];

  constructor(
    private readonly source: CountingSource,
    maxObjects: number,
  ) {
    super(0, false, maxObjects);
  }

  override async writeBatch(items: readonly BatchWriteItem[], options: OpOptions = {}): Promise<ObjectInfo[]> {
    this.readAtBatch.push(this.source.filesRead);
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.readAfterTurn.push(this.source.filesRead);
    return super.writeBatch(items, options);
  }
}

describe('copyBatch reading a local source in turns', () => {
  it('hands the first group to the writer once its own files are read, not the groups after it', async () => {
    const sizes = Array.from({ length: 11 }, (_, i) => 100 + i);
    const { dir, contents } = await sourceOf(sizes);
    const src = new CountingSource(dir);
    const dst = new WatchingWriter(src, 3);
    const outcomes = await copyAll(dir, dst, files(sizes), src);
    expect([...outcomes.values()]).toEqual(sizes.map(() => undefined));
    // Groups of 3, 3 in flight: read together, the first batch came after 9 reads.
    expect(dst.readAtBatch[0]).toBe(3);
    for (let i = 0; i < sizes.length; i++) expect((await dst.readRange(`f${i}`, 0, 1 << 20)).equals(contents[i]), `f${i}`).toBe(true);
  });

  it('gives the event loop a turn while the next group is read, so that the first batch is not held until it is', async () => {
    const sizes = Array.from({ length: 300 }, (_, i) => 10 + (i % 50));
    const { dir } = await sourceOf(sizes);
    const src = new CountingSource(dir);
    const dst = new WatchingWriter(src, 100);
    const outcomes = await copyAll(dir, dst, files(sizes), src);
    expect([...outcomes.values()].every((e) => e === undefined)).toBe(true);
    expect(dst.readAtBatch[0]).toBe(100);
    // Blocking reads settle at once: without a turn that every reader waits for, the second
    // group (100 files) was read whole first. With it: 32 files, and the 16 readers' files under way.
    expect(dst.readAfterTurn[0]).toBeLessThanOrEqual(100 + 32 + 16);
  });

  it('lets a network source read its groups at once', async () => {
    const sizes = Array.from({ length: 11 }, (_, i) => 100 + i);
    const { dir } = await sourceOf(sizes);
    const src = new CountingSource(dir, true);
    const dst = new WatchingWriter(src, 3);
    await copyAll(dir, dst, files(sizes), src);
    expect(dst.readAtBatch[0]).toBeGreaterThan(3);
  });
});

describe('ReadTurns', () => {
  it('in turn: a read starts once the one before it settled, failed or not', async () => {
    const turns = new ReadTurns(true);
    const started: string[] = [];
    let release!: () => void;
    const first = turns.run(async () => {
      started.push('a');
      await new Promise<void>((resolve) => (release = resolve));
      throw new Error('a failed');
    });
    const second = turns.run(async () => {
      started.push('b');
      return 'b';
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a']);
    release();
    await expect(first).rejects.toThrow('a failed');
    await expect(second).resolves.toBe('b');
    expect(started).toEqual(['a', 'b']);
  });

  it('not in turn: reads start at once', async () => {
    const turns = new ReadTurns(false);
    const started: string[] = [];
    const never = new Promise<void>(() => {});
    void turns.run(async () => {
      started.push('a');
      await never;
    });
    void turns.run(async () => {
      started.push('b');
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(started).toEqual(['a', 'b']);
  });
});
