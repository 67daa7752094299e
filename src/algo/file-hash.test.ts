import { randomBytes } from 'node:crypto';
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKING, EMPTY_FILE_HASH, fileHashOf } from '../core/manifest.js';
import { chunkBuffer, fileHashOfBuffer, fileHashOfFile, fileHashOfStream } from './file-hash.js';

describe('the file hash of a buffer, a stream and a file', () => {
  const small = { ...DEFAULT_CHUNKING, minSize: 1024, avgSize: 4096, maxSize: 16384 };
  it.each([0, 1, 1000, 5000, 100_000, 300_000])('match the upload path’s manifest hash (%i bytes)', async (n) => {
    const data = randomBytes(n);
    const want = n === 0 ? EMPTY_FILE_HASH : fileHashOf(chunkBuffer(data, small));
    expect(fileHashOfBuffer(data, small)).toBe(want);
    // Any piece sizes: the cuts do not depend on how the bytes arrive.
    const pieces = [];
    for (let o = 0; o < n; o += 777) pieces.push(data.subarray(o, o + 777));
    expect(await fileHashOfStream(Readable.from(pieces), small)).toBe(want);
    const dir = await mkdtemp(join(tmpdir(), 'ferry-file-hash-'));
    try {
      await writeFile(join(dir, 'f'), data);
      expect(await fileHashOfFile(join(dir, 'f'), small)).toBe(want);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
