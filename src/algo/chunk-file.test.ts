import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { DEFAULT_CHUNKING, type ChunkingParams } from '../core/manifest.js';
import { chunkBytes, chunkFile, segmentCount, type ChunkFileOptions, type ChunkRecord } from './chunk-file.js';
import { referenceRecords } from '../../test/helpers/cdc-reference.js';

const SMALL: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 };

async function collect(path: string, params: ChunkingParams, options?: ChunkFileOptions): Promise<ChunkRecord[]> {
  const out: ChunkRecord[] = [];
  for await (const batch of chunkFile(path, params, options)) {
    expect(batch.length).toBeGreaterThan(0);
    out.push(...batch);
  }
  return out;
}

/** Descriptors of this process open on `path` (Linux). */
function fdsOn(path: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

let dir: string;
let n = 0;
async function file(data: Uint8Array): Promise<string> {
  const path = join(dir, `f${n++}.bin`);
  await writeFile(path, data);
  return path;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('chunkFile', () => {
  it('matches the reference chunker and covers the file, at the edge sizes', async () => {
    const { minSize: min, avgSize: avg, maxSize: max } = SMALL;
    for (const size of [1, min - 1, min, min + 1, avg, max - 1, max, max + 1, 2 * max, 3 * max + 7, 1 << 20]) {
      const data = randomBytes(size);
      const path = await file(data);
      const records = await collect(path, SMALL, { workers: 0 });
      expect(records, `size ${size}`).toEqual(referenceRecords(data, SMALL));
      let offset = 0;
      for (const r of records) {
        expect(r.offset).toBe(offset);
        offset += r.size;
      }
      expect(offset).toBe(size);
    }
  });

  it('yields nothing for an empty file', async () => {
    const path = await file(new Uint8Array(0));
    expect(await collect(path, SMALL)).toEqual([]);
    expect(await collect(path, SMALL, { workers: 2, parallelThreshold: 0 })).toEqual([]);
  });

  it('parallel runs give exactly the sequential records, wherever the segments fall', async () => {
    const { minSize: min, maxSize: max } = SMALL;
    const sizes = [1, min - 1, min + 1, max + 1, 5 * max + 3, 3 << 20];
    // Segment sizes: inside the first chunk, at min, around max, several chunks, odd.
    const segmentSizes = [1, 1000, min, max - 1, max, 3 * max + 1, 100_003, 1 << 20];
    for (const size of sizes) {
      const data = randomBytes(size);
      const path = await file(data);
      const expected = referenceRecords(data, SMALL);
      for (const segmentSize of segmentSizes) {
        if (segmentSize < size / 500) continue; // keeps the test quick: thousands of 1-byte segments say nothing new
        for (const workers of [1, 2, 3]) {
          const records = await collect(path, SMALL, { workers, parallelThreshold: 0, segmentSize });
          expect(records, `size ${size} segment ${segmentSize} workers ${workers}`).toEqual(expected);
        }
      }
    }
  });

  it('falls back to sequential when the chunkings never meet (zeros: every chunk is max)', async () => {
    const data = new Uint8Array(10 * SMALL.maxSize + 123);
    const path = await file(data);
    const expected = referenceRecords(data, SMALL);
    expect(new Set(expected.slice(0, -1).map((r) => r.size))).toEqual(new Set([SMALL.maxSize]));
    // Segments not a multiple of max: no cut of a later segment ever lines up with the file's.
    for (const segmentSize of [SMALL.maxSize + 1, 3 * SMALL.maxSize - 5]) {
      expect(await collect(path, SMALL, { workers: 2, parallelThreshold: 0, segmentSize })).toEqual(expected);
    }
  });

  it('uses workers with the default parameters on a file past the threshold, same records as in-thread', async () => {
    const size = 40 * 1024 * 1024 + 12345;
    const data = randomBytes(size);
    const path = await file(data);
    const sequential = await collect(path, DEFAULT_CHUNKING, { workers: 0 });
    expect(sequential).toEqual(referenceRecords(data, DEFAULT_CHUNKING));
    let bytes = 0;
    const parallel = await collect(path, DEFAULT_CHUNKING, { workers: 2, onBytes: (b) => (bytes += b) });
    expect(parallel).toEqual(sequential);
    expect(bytes).toBe(size);
    expect(await collect(path, DEFAULT_CHUNKING, { workers: 2, segmentSize: 7 << 20 })).toEqual(sequential);
  });

  it('plans segments per worker, of bounded size, not so small that resyncs dominate', () => {
    const GiB = 1024 ** 3;
    expect(segmentCount(10 * GiB, 1, DEFAULT_CHUNKING)).toBe(1);
    expect(segmentCount(GiB, 2, DEFAULT_CHUNKING)).toBe(4);
    for (const size of [0.6 * GiB, 1.1 * GiB, 10 * GiB]) {
      for (const workers of [2, 3, 4]) {
        const count = segmentCount(size, workers, DEFAULT_CHUNKING);
        expect(count % workers).toBe(0);
        expect(size / count).toBeLessThanOrEqual(256 * 1024 ** 2);
      }
    }
    expect(segmentCount(40 << 20, 4, DEFAULT_CHUNKING)).toBe(2);
  });

  it('reports a missing file as FERRY_ERR_NOT_FOUND and a directory as FERRY_ERR_IS_A_DIRECTORY', async () => {
    const err = await collect(join(dir, 'nope.bin'), SMALL).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_NOT_FOUND')).toBe(true);
    const sub = join(dir, 'a-dir');
    await mkdir(sub);
    const err2 = await collect(sub, SMALL).catch((e: unknown) => e);
    expect(isFerryError(err2, 'FERRY_ERR_IS_A_DIRECTORY')).toBe(true);
  });

  it('rejects parameters it cannot chunk with', async () => {
    const path = await file(randomBytes(100));
    const bad = await collect(path, { ...SMALL, avgSize: 5000 }).catch((e: unknown) => e);
    expect(isFerryError(bad, 'FERRY_ERR_VALIDATION')).toBe(true);
    const other = await collect(path, { ...SMALL, algorithm: 'rabin' as 'fastcdc-v1' }).catch((e: unknown) => e);
    expect(isFerryError(other, 'FERRY_ERR_UNSUPPORTED')).toBe(true);
  });

  it('honours an abort: in-thread and with workers, before and during the run; closes the file', async () => {
    const data = randomBytes(4 << 20);
    const path = await file(data);
    for (const options of [{ workers: 0 }, { workers: 2, parallelThreshold: 0, segmentSize: 1 << 20 }]) {
      const pre = new AbortController();
      pre.abort();
      const e1 = await collect(path, SMALL, { ...options, signal: pre.signal }).catch((e: unknown) => e);
      expect(isFerryError(e1, 'FERRY_ERR_ABORTED')).toBe(true);

      const ac = new AbortController();
      let batches = 0;
      const e2 = await (async () => {
        for await (const _ of chunkFile(path, SMALL, { ...options, signal: ac.signal })) {
          if (++batches === 1) ac.abort();
        }
      })().catch((e: unknown) => e);
      expect(isFerryError(e2, 'FERRY_ERR_ABORTED')).toBe(true);
      expect(batches).toBe(1);
      expect(fdsOn(path)).toBe(0);
      // the pool handed out no worker that was stopped mid-task
      expect(await collect(path, SMALL, options)).toEqual(referenceRecords(data, SMALL));
    }
  });

  it('stops its workers and closes the file when the consumer stops early', async () => {
    const path = await file(randomBytes(4 << 20));
    for (const options of [{ workers: 0 }, { workers: 2, parallelThreshold: 0, segmentSize: 1 << 20 }]) {
      for await (const batch of chunkFile(path, SMALL, options)) {
        expect(batch[0].offset).toBe(0);
        break;
      }
      expect(fdsOn(path)).toBe(0);
    }
    expect(fdsOn(path)).toBe(0);
  });

  it('reads a pipe to its end', async () => {
    const data = randomBytes(300_000);
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const writer = (async () => {
      const fh = await open(fifo, 'w');
      await fh.writeFile(data);
      await fh.close();
    })();
    const records = await collect(fifo, SMALL, { workers: 2, parallelThreshold: 0 });
    await writer;
    expect(records).toEqual(referenceRecords(data, SMALL));
  });
});

describe('chunkBytes', () => {
  it('gives the records chunkFile gives for a file holding the same bytes', async () => {
    const { minSize: min, maxSize: max } = SMALL;
    expect(chunkBytes(new Uint8Array(0), SMALL)).toEqual([]);
    for (const size of [1, min - 1, min, min + 1, max, max + 1, 3 * max + 7, 1 << 20]) {
      const data = randomBytes(size);
      expect(chunkBytes(data, SMALL), `size ${size}`).toEqual(referenceRecords(data, SMALL));
    }
    // Default parameters: a 4 MiB file (workload 6's) and one past the 16 MiB data area,
    // which the chunker refills; zeros, where every chunk is cut at maxSize.
    for (const data of [randomBytes(4 << 20), randomBytes((16 << 20) + 12_345), new Uint8Array(9 * DEFAULT_CHUNKING.maxSize + 5)]) {
      const records = chunkBytes(data, DEFAULT_CHUNKING);
      expect(records).toEqual(await collect(await file(data), DEFAULT_CHUNKING, { workers: 0 }));
      expect(records.reduce((n, r) => n + r.size, 0)).toBe(data.length);
      // Every record's hash (a 4 MiB random file is one chunk of maxSize about once in 43:
      // the default parameters cut with probability 2^-20 a byte past minSize).
      for (const r of records) expect(r.hash).toBe(createHash('sha256').update(data.subarray(r.offset, r.offset + r.size)).digest('hex'));
    }
  });

  it('rejects parameters it cannot chunk with', () => {
    let caught: unknown;
    try {
      chunkBytes(randomBytes(10), { ...SMALL, algorithm: 'rabin' as 'fastcdc-v1' });
    } catch (err) {
      caught = err;
    }
    expect(isFerryError(caught, 'FERRY_ERR_UNSUPPORTED')).toBe(true);
  });
});
