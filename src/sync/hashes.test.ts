import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { chunkBuffer } from '../client/local-file.js';
import { DEFAULT_CHUNKING, EMPTY_FILE_HASH, fileHashOf } from '../core/manifest.js';
import { treeHashOfBuffer, treeHashOfStream } from './hashes.js';

describe('ferry-tree hashes computed locally', () => {
  const small = { ...DEFAULT_CHUNKING, minSize: 1024, avgSize: 4096, maxSize: 16384 };
  it.each([0, 1, 1000, 5000, 100_000, 300_000])('match the upload path’s manifest hash (%i bytes)', async (n) => {
    const data = randomBytes(n);
    const want = n === 0 ? EMPTY_FILE_HASH : fileHashOf(chunkBuffer(data, small));
    expect(treeHashOfBuffer(data, small)).toBe(want);
    // Any piece sizes: the cuts do not depend on how the bytes arrive.
    const pieces = [];
    for (let o = 0; o < n; o += 777) pieces.push(data.subarray(o, o + 777));
    expect(await treeHashOfStream(Readable.from(pieces), small)).toBe(want);
  });
});
