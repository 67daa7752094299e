import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compress, decompress } from 'zstd-napi';
import { ZstdFrameScanner } from './zstd-frames.js';

/** Where the scanner says frames end, feeding `stream` in pieces of `step` bytes. */
function ends(stream: Buffer, step: number): { ends: number[]; atBoundary: boolean } {
  const s = new ZstdFrameScanner();
  const out: number[] = [];
  for (let i = 0; i < stream.length; i += step) {
    const piece = stream.subarray(i, i + step);
    for (let at = 0; at < piece.length; ) {
      const e = s.next(piece, at);
      if (e < 0) break;
      out.push(i + e);
      at = e;
    }
  }
  return { ends: out, atBoundary: s.atBoundary };
}

/** A frame by hand: descriptor `fhd`, then `rest` header bytes, the blocks, an optional checksum. */
function frame(fhd: number, rest: number[], blocks: Array<{ type: number; size: number; body: number[] | Buffer; last: boolean }>, checksum = false): Buffer {
  const out = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, ...rest])];
  for (const b of blocks) {
    const v = (b.size << 3) | (b.type << 1) | (b.last ? 1 : 0);
    out.push(Buffer.from([v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff]), Buffer.from(b.body));
  }
  if (checksum) out.push(Buffer.from([1, 2, 3, 4]));
  return Buffer.concat(out);
}

/** `data` in raw blocks of at most 128 KiB, with its content size (as the server wraps a chunk stored raw). */
function rawFrame(data: Buffer): Buffer {
  const size = [data.length & 0xff, (data.length >> 8) & 0xff, (data.length >> 16) & 0xff, data.length >>> 24];
  const blocks: Array<{ type: number; size: number; body: number[] | Buffer; last: boolean }> = [];
  for (let at = 0; at < data.length || at === 0; at += 128 * 1024) {
    const body = data.subarray(at, at + 128 * 1024);
    blocks.push({ type: 0, size: body.length, body, last: at + 128 * 1024 >= data.length });
    if (data.length === 0) break;
  }
  return frame(0xa0, size, blocks);
}

describe('ZstdFrameScanner', () => {
  it('finds where each frame ends, however the stream is cut', () => {
    const text = Buffer.from('line of a log, again and again\n'.repeat(20_000));
    const frames = [compress(text), rawFrame(randomBytes(300_000)), compress(Buffer.from('x')), rawFrame(Buffer.alloc(0))];
    const stream = Buffer.concat(frames);
    const want: number[] = [];
    let at = 0;
    for (const f of frames) want.push((at += f.length));
    for (const step of [1, 2, 3, 7, 4096, 65_536, stream.length]) expect(ends(stream, step)).toEqual({ ends: want, atBoundary: true });
    // and the stream is what zstd itself reads as those bytes back to back
    expect(decompress(stream).length).toBe(text.length + 300_000 + 1);
  });

  it('reads headers with a window, a dictionary id and a content checksum, RLE and empty blocks', () => {
    // Window descriptor, 2-byte dictionary id, 2-byte content size, checksum flag.
    const a = frame(0x40 | 0x04 | 0x02, [0x10, 0x01, 0x00, 0x05, 0x00], [
      { type: 1, size: 70_000, body: [0x61], last: false },
      { type: 0, size: 0, body: [], last: false },
      { type: 0, size: 3, body: [1, 2, 3], last: true },
    ], true);
    const b = frame(0x20, [9], [{ type: 0, size: 0, body: [], last: true }]);
    const stream = Buffer.concat([a, b]);
    for (const step of [1, 5, stream.length]) expect(ends(stream, step)).toEqual({ ends: [a.length, a.length + b.length], atBoundary: true });
    // A stream cut inside a frame is not at a boundary.
    expect(ends(stream.subarray(0, a.length - 2), 3).atBoundary).toBe(false);
  });

  it('refuses what is not a zstd frame', () => {
    expect(() => new ZstdFrameScanner().next(Buffer.from('HTTP/1.1 200 OK\r\n'))).toThrow(expect.objectContaining({ code: 'FERRY_ERR_PROTOCOL' }));
    expect(() => new ZstdFrameScanner().next(frame(0x20, [1], [{ type: 3, size: 1, body: [0], last: true }]))).toThrow(/reserved type/);
    expect(() => new ZstdFrameScanner().next(frame(0x20, [1], [{ type: 0, size: 200_000, body: [], last: true }]))).toThrow(/more than zstd allows/);
    expect(() => new ZstdFrameScanner().next(frame(0x28, [1], []))).toThrow(/reserved bit/);
  });
});
