/** The chunk object format (src/store/chunk-codec.ts) and the download codings built on it (src/server/content-coding.ts): here, not beside the store, because it spans both layers. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decompress } from 'zstd-napi';
import { chooseCoding, rawZstdFrame } from '../../src/server/content-coding.js';
import { CHUNK_HEADER_BYTES, ChunkCodec, chunkHeader, compressChunk, decodeChunkObject, decompressChunk, encodeChunkObject, parseChunkHeader } from '../../src/store/chunk-codec.js';

const text = (n: number): Buffer => Buffer.from('the quick brown fox jumps over the lazy dog 0123456789\n'.repeat(Math.ceil(n / 55))).subarray(0, n);

describe('chunk objects', () => {
  it('keep compressible chunks as zstd and incompressible ones raw, both behind a header', () => {
    const t = text(300_000);
    const [h, payload] = encodeChunkObject(t);
    expect(parseChunkHeader(h)).toEqual({ codec: ChunkCodec.Zstd, plainSize: t.length, headerBytes: CHUNK_HEADER_BYTES });
    expect(payload.length).toBeLessThan(t.length / 10);
    expect(decodeChunkObject(Buffer.concat([h, payload]), t.length).equals(t)).toBe(true);
    const r = randomBytes(300_000);
    expect(compressChunk(r)).toBeUndefined();
    const raw = Buffer.concat(encodeChunkObject(r));
    expect(parseChunkHeader(raw)?.codec).toBe(ChunkCodec.Raw);
    expect(raw.length).toBe(r.length + CHUNK_HEADER_BYTES);
    expect(decodeChunkObject(raw, r.length).equals(r)).toBe(true);
  });

  it('read objects without a header as the plain bytes, and refuse headers they do not know', () => {
    const old = randomBytes(5000);
    expect(decodeChunkObject(old, old.length).equals(old)).toBe(true);
    const h = chunkHeader(ChunkCodec.Raw, 10);
    for (const [at, v] of [[6, 2], [8, 7], [9, 1], [10, 1]] as const) {
      const bad = Buffer.from(h);
      bad[at] = v;
      expect(parseChunkHeader(bad), `byte ${at}`).toBeUndefined();
    }
    // A longer header (a later version's extra fields) is skipped.
    const longer = Buffer.concat([chunkHeader(ChunkCodec.Raw, 3), Buffer.alloc(8), Buffer.from('abc')]);
    longer[7] = CHUNK_HEADER_BYTES + 8;
    expect(decodeChunkObject(longer, 3).toString()).toBe('abc');
  });

  it('decompress a frame only into exactly the size it must have', () => {
    const t = text(100_000);
    const z = compressChunk(t)!;
    expect(decompressChunk(z, t.length).equals(t)).toBe(true);
    expect(() => decompressChunk(z, t.length - 1)).toThrow(/holds/);
    expect(() => decompressChunk(Buffer.concat([z, z]), t.length)).toThrow(/follow/);
    expect(() => decompressChunk(Buffer.from('not zstd at all'), 15)).toThrow();
    const damaged = Buffer.from(z);
    damaged[damaged.length >> 1] ^= 0xff;
    // (no zstd checksum: a damaged frame fails to decode or decodes to other bytes, which
    // the SHA-256 check after it catches)
    let out: Buffer | undefined;
    try {
      out = decompressChunk(damaged, t.length);
    } catch {
      out = undefined;
    }
    expect(out?.equals(t) ?? false).toBe(false);
  });
});

describe('download codings', () => {
  it('honor the client’s q-values and the server’s order', () => {
    const offered = ['zstd', 'br', 'gzip'] as const;
    expect(chooseCoding('gzip, deflate, br, zstd', offered)).toBe('zstd');
    expect(chooseCoding('gzip;q=1, zstd;q=0.5', offered)).toBe('gzip');
    expect(chooseCoding('zstd;q=0, br;q=0, gzip;q=0', offered)).toBeUndefined();
    expect(chooseCoding('*', offered)).toBe('zstd');
    expect(chooseCoding('identity', offered)).toBeUndefined();
    expect(chooseCoding(undefined, offered)).toBeUndefined();
  });

  it('wrap raw chunks in zstd frames any decoder reads, concatenated with others', () => {
    for (const n of [1, 1000, 128 * 1024, 128 * 1024 + 1, 700_000]) {
      const data = randomBytes(n);
      expect(decompress(Buffer.concat(rawZstdFrame(data))).equals(data), `${n} bytes`).toBe(true);
    }
    const a = randomBytes(200_000);
    const b = text(50_000);
    expect(decompress(Buffer.concat([...rawZstdFrame(a), compressChunk(b)!])).equals(Buffer.concat([a, b]))).toBe(true);
  });
});
