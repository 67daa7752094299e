/**
 * Content codings of download answers (RFC 9110 §8.4 and §12.5.3): which one a client
 * takes, and the zstd frames that let a file go out compressed without compressing it
 * again.
 *
 * A file's chunks are stored as zstd frames or raw (src/store/chunk-codec.ts), and zstd
 * frames concatenated are one valid zstd stream. So `Accept-Encoding: zstd` costs the server
 * nothing beyond reading: stored frames go out as they are, raw chunks (incompressible by
 * the store's measure) go out inside raw blocks of a frame (3 bytes per 128 KiB).
 * gzip and br have no such shortcut: they are compressed on the fly (zlib), so they are
 * offered only for files whose chunks compressed at rest.
 */
import { constants as zlib, createBrotliCompress, createGzip } from 'node:zlib';
import type { Transform } from 'node:stream';

export type DownloadCoding = 'zstd' | 'br' | 'gzip';

/**
 * The coding to answer with, of those `offered` (in the server's order of preference),
 * given an Accept-Encoding value; undefined: identity. Honors q-values (`q=0` refuses,
 * `*` stands for codings not named); the client's highest q wins, ties go to the server's order.
 */
export function chooseCoding(acceptEncoding: string | string[] | undefined, offered: readonly DownloadCoding[]): DownloadCoding | undefined {
  if (acceptEncoding === undefined || offered.length === 0) return undefined;
  const value = Array.isArray(acceptEncoding) ? acceptEncoding.join(',') : acceptEncoding;
  const q = new Map<string, number>();
  for (const part of value.split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    if (Number.isFinite(weight)) q.set(name, weight);
  }
  let best: DownloadCoding | undefined;
  let bestQ = 0;
  for (const c of offered) {
    const w = q.get(c) ?? q.get('*') ?? 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  return best;
}

/** zstd's magic number, little-endian. */
const ZSTD_MAGIC = 0xfd2fb528;
/** Largest block zstd allows. */
const MAX_BLOCK = 128 * 1024;

/**
 * `data` as a zstd frame of raw (stored) blocks: a 9-byte frame header (single segment, a
 * 4-byte content size, no checksum: the chunk was verified against its SHA-256 before it
 * is sent), then a 3-byte header per block. Returns the pieces to write, `data` itself
 * sliced, not copied.
 */
export function rawZstdFrame(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  const head = Buffer.allocUnsafe(9);
  head.writeUInt32LE(ZSTD_MAGIC, 0);
  head[4] = 0xa0; // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag 1
  head.writeUInt32LE(data.length, 5);
  out.push(head);
  for (let at = 0; at < data.length || at === 0; at += MAX_BLOCK) {
    const n = Math.min(MAX_BLOCK, data.length - at);
    const last = at + n >= data.length ? 1 : 0;
    const bh = Buffer.allocUnsafe(3);
    const v = (n << 3) | (0 << 1) | last; // Block_Type 0: raw
    bh[0] = v & 0xff;
    bh[1] = (v >> 8) & 0xff;
    bh[2] = (v >> 16) & 0xff;
    out.push(bh);
    if (n > 0) out.push(data.subarray(at, at + n));
    if (last) break;
  }
  return out;
}

/** An on-the-fly compressor for gzip or br, tuned for speed over ratio (the download must not wait on it). */
export function streamingCompressor(coding: 'gzip' | 'br'): Transform {
  if (coding === 'gzip') return createGzip({ level: 1 });
  return createBrotliCompress({ params: { [zlib.BROTLI_PARAM_QUALITY]: 3 } });
}
