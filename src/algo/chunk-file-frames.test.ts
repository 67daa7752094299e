/**
 * chunkFile's `compress`: the workers give each chunk's zstd frame with its record, held
 * against a budget the consumer releases (chunk-worker.ts, waitForRoom).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { DEFAULT_CHUNKING } from '../core/manifest.js';
import { chunkFile, type ChunkFileOptions, type ChunkRecord } from './chunk-file.js';
import { compressChunk, decompressChunk } from './zstd-chunk.js';

const MiB = 1024 * 1024;

/** Log lines: compress several times over. */
function textLike(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < bytes; i++) {
    const line = `2026-12-07T07:${String(i % 60).padStart(2, '0')}:00Z info request ${(i * 7919 + seed) % 100000} GET /files/report-${i % 97}.txt 200 ${(i * 31) % 5000}ms\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

/** Hex digits of random bytes: compress about two to one, so frames stay large. */
const hexText = (bytes: number) => Buffer.from(randomBytes(bytes / 2).toString('hex'));

let dir: string;
let n = 0;
async function file(data: Uint8Array): Promise<string> {
  const path = join(dir, `f${n++}.bin`);
  await writeFile(path, data);
  return path;
}

function fdsOn(path: string): number {
  return readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path;
    } catch {
      return false;
    }
  }).length;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-frames-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const workers: ChunkFileOptions = { workers: 2, parallelThreshold: 1, segmentSize: 8 * MiB };

describe('chunkFile with compress', () => {
  it("gives each compressible chunk compressChunk's frame, in memory of its own; incompressible ones none; the records as without", async () => {
    const data = Buffer.concat([textLike(8 * MiB, 1), randomBytes(8 * MiB), textLike(8 * MiB + 12345, 2)]);
    const path = await file(data);
    const plain: ChunkRecord[] = [];
    for await (const batch of chunkFile(path, DEFAULT_CHUNKING, workers)) plain.push(...batch);
    const framed: ChunkRecord[] = [];
    for await (const batch of chunkFile(path, DEFAULT_CHUNKING, { ...workers, compress: true })) framed.push(...batch);
    expect(framed.map(({ offset, size, hash }) => ({ offset, size, hash }))).toEqual(plain);
    let withFrame = 0;
    let without = 0;
    for (const r of framed) {
      const chunk = data.subarray(r.offset, r.offset + r.size);
      const expected = compressChunk(chunk);
      if (expected === undefined) {
        expect(r.frame, `chunk at ${r.offset}`).toBeUndefined();
        without++;
        continue;
      }
      withFrame++;
      const bytes = r.frame!.bytes;
      expect(Buffer.from(bytes).equals(expected), `chunk at ${r.offset}`).toBe(true);
      expect(bytes.byteOffset).toBe(0);
      expect(bytes.buffer.byteLength).toBe(bytes.length);
      expect(decompressChunk(bytes, r.size).equals(chunk)).toBe(true);
      r.frame!.release();
      r.frame!.release(); // idempotent
    }
    // The text around the random bytes, and the random bytes themselves.
    expect(withFrame).toBeGreaterThan(4);
    expect(without).toBeGreaterThan(2);
  });

  it('keeps the frames made and not released under about twice the cap plus a batch per worker, for a consumer slower than the workers', async () => {
    const size = 96 * MiB;
    const path = await file(hexText(size));
    const cap = 1 * MiB;
    let maxHeld = 0;
    let total = 0;
    const options: ChunkFileOptions = { workers: 2, parallelThreshold: 1, segmentSize: size / 2, compress: true, compressHeldBytes: cap, onFramesHeld: (b) => (maxHeld = Math.max(maxHeld, b)) };
    for await (const batch of chunkFile(path, DEFAULT_CHUNKING, options)) {
      await new Promise((resolve) => setTimeout(resolve, 100)); // a slow sender
      for (const r of batch) {
        total += r.frame?.bytes.length ?? 0;
        r.frame?.release();
      }
    }
    expect(total).toBeGreaterThan(size / 3);
    // A worker's batch is at most its data area (16 MiB, about 8.5 MB of frames here); the
    // worker ahead would otherwise hold its whole segment's frames (about 25 MB) besides.
    expect(maxHeld).toBeGreaterThan(0);
    expect(maxHeld).toBeLessThan(total / 2);
  });

  it('a consumer that releases nothing and aborts ends with FERRY_ERR_ABORTED, the file closed', async () => {
    const path = await file(hexText(32 * MiB));
    const controller = new AbortController();
    const seen: ChunkRecord[] = [];
    const run = (async () => {
      for await (const batch of chunkFile(path, DEFAULT_CHUNKING, { ...workers, compress: true, compressHeldBytes: 1, signal: controller.signal })) {
        seen.push(...batch);
        controller.abort();
      }
    })();
    const err = await run.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFerryError(err, 'FERRY_ERR_ABORTED')).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(fdsOn(path)).toBe(0);
  });

  it('a file that shrinks while the workers wait for room fails with FERRY_ERR_IO, the file closed', async () => {
    const path = await file(textLike(48 * MiB, 3));
    let first = true;
    const err = await (async () => {
      for await (const batch of chunkFile(path, DEFAULT_CHUNKING, { workers: 2, parallelThreshold: 1, segmentSize: 16 * MiB, compress: true, compressHeldBytes: 1 })) {
        // Both workers wait after their first frames: shrink the file, then let them go on.
        if (first) await truncate(path, 1 * MiB);
        first = false;
        for (const r of batch) r.frame?.release();
      }
    })().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isFerryError(err, 'FERRY_ERR_IO'), String(err)).toBe(true);
    expect(fdsOn(path)).toBe(0);
  });

  it('refuses a budget that is not a positive integer', async () => {
    const path = await file(textLike(2 * MiB, 4));
    for (const bad of [0, -1, 1.5]) {
      const err = await (async () => {
        for await (const batch of chunkFile(path, DEFAULT_CHUNKING, { ...workers, compress: true, compressHeldBytes: bad })) void batch;
      })().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isFerryError(err, 'FERRY_ERR_VALIDATION'), String(bad)).toBe(true);
    }
  });
});
