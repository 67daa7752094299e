import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { DEFAULT_CHUNKING, type ChunkingParams } from '../core/manifest.js';
import { chunkFile } from './chunk-file.js';
import { StreamChunker, chunkStream, type StreamChunk } from './chunk-stream.js';

const SMALL: ChunkingParams = { algorithm: 'fastcdc-v1', minSize: 2048, avgSize: 8192, maxSize: 32768, normalization: 2 };

/** `data` cut into pieces of the given sizes (cycled), as an async source. */
async function* pieces(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (let pos = 0; pos < data.length; i++) {
    const n = sizes[i % sizes.length];
    yield data.subarray(pos, pos + n);
    pos += n;
  }
}

async function collect(source: AsyncIterable<Uint8Array>, params: ChunkingParams, signal?: AbortSignal): Promise<StreamChunk[]> {
  const out: StreamChunk[] = [];
  for await (const c of chunkStream(source, params, { signal })) out.push(c);
  return out;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-chunk-stream-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileRecords(data: Uint8Array, params: ChunkingParams) {
  const path = join(dir, 'same.bin');
  await writeFile(path, data);
  const out: { hash: string; size: number }[] = [];
  for await (const batch of chunkFile(path, params, { workers: 0 })) for (const r of batch) out.push({ hash: r.hash, size: r.size });
  return out;
}

describe('chunkStream', () => {
  it('cuts where chunkFile cuts, whatever the piece sizes; data matches hash and size', async () => {
    const { minSize: min, avgSize: avg, maxSize: max } = SMALL;
    for (const size of [0, 1, min - 1, min, avg, max, max + 1, 3 << 20]) {
      const data = randomBytes(size);
      const expected = await fileRecords(data, SMALL);
      for (const sizes of [[size || 1], [1, 7, 4096], [65536], [max], [max + 1, 3], [1 << 20]]) {
        if (size > 1 << 20 && sizes[0] === 1) continue; // one-byte pieces of 3 MiB: slow, nothing new
        const chunks = await collect(pieces(data, sizes), SMALL);
        expect(
          chunks.map((c) => ({ hash: c.hash, size: c.size })),
          `size ${size} pieces ${sizes.join(',')}`,
        ).toEqual(expected);
        let offset = 0;
        for (const c of chunks) {
          expect(c.data.length).toBe(c.size);
          expect(createHash('sha256').update(c.data).digest('hex')).toBe(c.hash);
          expect(Buffer.compare(c.data, data.subarray(offset, offset + c.size))).toBe(0);
          offset += c.size;
        }
        expect(offset).toBe(size);
      }
    }
  });

  it('gives chunks the caller may keep: each in memory of its own', async () => {
    const data = randomBytes(1 << 20);
    const chunks = await collect(pieces(data, [10_000]), SMALL);
    const buffers = new Set(chunks.map((c) => c.data.buffer));
    expect(buffers.size).toBe(chunks.length);
    for (const c of chunks) expect(c.data.buffer.byteLength).toBe(c.size);
    // still intact after the stream is done and the data area was reused many times
    expect(Buffer.compare(Buffer.concat(chunks.map((c) => c.data)), data)).toBe(0);
  });

  it('puts chunks into pooled shared buffers at offsets that agree with their source modulo 8, bytes and hashes right', async () => {
    const data = randomBytes(3 << 20);
    const free: Buffer[] = [];
    const lent = new Set<Buffer>();
    const pool = {
      acquire(size: number): Buffer {
        const b = free.find((f) => f.length >= size) ?? Buffer.from(new SharedArrayBuffer(Math.max(size, 64 * 1024)));
        free.splice(free.indexOf(b), 1);
        lent.add(b);
        return b;
      },
      release(b: Buffer): void {
        lent.delete(b);
        free.push(b);
      },
    };
    let offset = 0;
    const skews = new Set<number>();
    for await (const c of chunkStream(pieces(data, [7, 65_536, 1_000_003]), SMALL, { buffers: pool })) {
      expect(c.data.buffer).toBeInstanceOf(SharedArrayBuffer);
      skews.add(c.data.byteOffset);
      expect(c.data.byteOffset).toBeLessThan(8);
      expect(createHash('sha256').update(c.data).digest('hex')).toBe(c.hash);
      expect(Buffer.compare(c.data, data.subarray(offset, offset + c.size))).toBe(0);
      offset += c.size;
      c.release?.();
    }
    expect(offset).toBe(data.length);
    expect(lent.size).toBe(0);
    expect(skews.size).toBeGreaterThan(1); // chunks start anywhere, so their places differ
  });

  it('matches chunkFile with the default parameters', async () => {
    const data = randomBytes(24 << 20);
    const chunks = await collect(pieces(data, [65536]), DEFAULT_CHUNKING);
    expect(chunks.map((c) => ({ hash: c.hash, size: c.size }))).toEqual(await fileRecords(data, DEFAULT_CHUNKING));
  });

  it('honours an abort before and during the stream', async () => {
    const data = randomBytes(1 << 20);
    const pre = new AbortController();
    pre.abort();
    expect(isFerryError(await collect(pieces(data, [4096]), SMALL, pre.signal).catch((e: unknown) => e), 'FERRY_ERR_ABORTED')).toBe(true);
    const ac = new AbortController();
    let seen = 0;
    const err = await (async () => {
      for await (const _ of chunkStream(pieces(data, [4096]), SMALL, { signal: ac.signal })) if (++seen === 3) ac.abort();
    })().catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_ABORTED')).toBe(true);
    expect(seen).toBe(3);
  });

  it('passes errors of the source through', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(100_000);
      throw new Error('source broke');
    }
    await expect(collect(failing(), SMALL)).rejects.toThrow('source broke');
  });

  it('chunks text pieces as their UTF-8 (a Readable with setEncoding) and refuses pieces that are not bytes', async () => {
    const text = 'é✓ '.repeat(20_000);
    async function* strings(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < text.length; i += 7001) yield text.slice(i, i + 7001) as unknown as Uint8Array;
    }
    const bytes = Buffer.from(text, 'utf8');
    expect((await collect(strings(), SMALL)).map((c) => c.hash)).toEqual((await collect(pieces(bytes, [65536]), SMALL)).map((c) => c.hash));
    // A number has no bytes: it used to be read as none, and a put then stored an empty file.
    async function* numbers(): AsyncGenerator<Uint8Array> {
      yield Buffer.from('ok');
      yield 42 as unknown as Uint8Array;
    }
    const err: unknown = await collect(numbers(), SMALL).catch((e: unknown) => e);
    expect(isFerryError(err, 'FERRY_ERR_VALIDATION')).toBe(true);
    expect((err as Error).message).toBe('the stream yielded a number, not bytes or text');
  });

  it('StreamChunker stopped anywhere and resumed from rest() cuts where one pass does (tus PATCHes, restarts)', async () => {
    const data = randomBytes(3 << 20);
    const whole = (await collect(pieces(data, [65536]), SMALL)).map((c) => c.hash);
    // Stop after arbitrary request boundaries, carry only the unfinished bytes to a fresh chunker.
    const bounds = [1, 4095, 100_000, 777_777, 1_048_576, 2_500_001, data.length];
    const got: string[] = [];
    let rest: Buffer = Buffer.alloc(0);
    let from = 0;
    for (const to of bounds) {
      const chunker = new StreamChunker(SMALL);
      for (const c of chunker.push(rest)) got.push(c.hash);
      for (const c of chunker.push(data.subarray(from, to))) got.push(c.hash);
      if (to === data.length) for (const c of chunker.finish()) got.push(c.hash);
      rest = chunker.rest();
      expect(rest.length).toBeLessThan(SMALL.maxSize);
      expect(chunker.pending).toBe(rest.length);
      from = to;
    }
    expect(got).toEqual(whole);
  });
});
