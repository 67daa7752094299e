import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CHUNK_FRAME_HEADER_BYTES } from '../core/protocol.js';
import { ChunkFrameReader } from './chunk-frames.js';

/** A frame as the client sends it: hash, size, length, bytes. */
function frame(bytes: Buffer, size = bytes.length): Buffer {
  const head = Buffer.alloc(CHUNK_FRAME_HEADER_BYTES);
  createHash('sha256').update(bytes).digest().copy(head, 0);
  head.writeUInt32BE(size, 32);
  head.writeUInt32BE(bytes.length, 36);
  return Buffer.concat([head, bytes]);
}

/** `body` delivered in pieces of the given sizes, cycled (as socket reads of varied lengths). */
function inPieces(body: Buffer, sizes: number[]): Readable {
  const pieces: Buffer[] = [];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = Math.min(sizes[i % sizes.length], body.length - at);
    pieces.push(Buffer.from(body.subarray(at, at + n)));
    at += n;
  }
  return Readable.from(pieces, { objectMode: false });
}

function bytesOf(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

describe('ChunkFrameReader', () => {
  it('hands out each frame whole whatever the pieces: headers and bytes split across pieces, several frames in one piece', async () => {
    const chunks = [bytesOf(20_000, 1), bytesOf(5, 2), bytesOf(1, 3), bytesOf(66_001, 4)];
    const body = Buffer.concat(chunks.map((c) => frame(c)));
    for (const sizes of [[1, 2, 3], [7, 13], [39, 41, 65_536], [body.length]]) {
      const reader = new ChunkFrameReader(inPieces(body, sizes), body.length);
      const got: Buffer[] = [];
      for (let f = await reader.next(); f !== undefined; f = await reader.next()) {
        expect(f.hash).toBe(createHash('sha256').update(chunks[got.length]).digest('hex'));
        expect(f.size).toBe(f.length);
        // Into a buffer larger than the frame, with old bytes in it: only the frame's length is handed back.
        const buf = Buffer.alloc(f.length + 100, 0xee);
        got.push(Buffer.from(await reader.readInto(buf, f.length)));
      }
      expect(got).toEqual(chunks);
    }
  });

  it('refuses a body that ends inside a frame (FERRY_ERR_SIZE_MISMATCH) and one past its limit (FERRY_ERR_PAYLOAD_TOO_LARGE)', async () => {
    const whole = frame(bytesOf(100_000, 5));
    const cut = new ChunkFrameReader(inPieces(whole.subarray(0, whole.length - 1), [4096]), whole.length);
    const f = await cut.next();
    await expect(cut.readInto(Buffer.alloc(f!.length), f!.length)).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });

    const headCut = new ChunkFrameReader(inPieces(whole.subarray(0, 20), [8]), whole.length);
    await expect(headCut.next()).rejects.toMatchObject({ code: 'FERRY_ERR_SIZE_MISMATCH' });

    const big = new ChunkFrameReader(inPieces(whole, [4096]), 50_000);
    const g = await big.next();
    await expect(big.readInto(Buffer.alloc(g!.length), g!.length)).rejects.toMatchObject({ code: 'FERRY_ERR_PAYLOAD_TOO_LARGE' });
  });
});
