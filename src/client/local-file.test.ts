import { writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { tempDir } from '../../test/helpers/files.js';
import type { FileHandle } from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
import { ReadBuffers, WRITE_SLICE_BYTES, writeAt, writevAt } from './local-file.js';

let tmp: { path: string; cleanup: () => Promise<void> };
let data: Buffer;
let file: string;
beforeEach(async () => {
  tmp = await tempDir();
  data = randomBytes(600 * 1024);
  file = join(tmp.path, 'f.bin');
  await writeFile(file, data);
});
afterEach(async () => {
  await tmp.cleanup();
});

describe('ReadBuffers', () => {
  it('reads exact bytes and reuses a buffer once it is given back', async () => {
    const fh = await open(file, 'r');
    try {
      const pool = new ReadBuffers(4);
      const a = await pool.read(fh, 1000, 200 * 1024, file);
      expect(a.equals(data.subarray(1000, 1000 + 200 * 1024))).toBe(true);
      // Taken, not given back: a second read gets other memory.
      const b = await pool.read(fh, 0, 100 * 1024, file);
      expect(b.buffer).not.toBe(a.buffer);
      pool.give(a);
      expect(pool.spare).toBe(1);
      const c = await pool.read(fh, 300 * 1024, 150 * 1024, file);
      expect(c.buffer).toBe(a.buffer); // the same memory, now holding other bytes
      expect(c.equals(data.subarray(300 * 1024, 450 * 1024))).toBe(true);
      expect(pool.spare).toBe(0);
    } finally {
      await fh.close();
    }
  });

  it('never takes a buffer it did not make, nor one twice, and keeps at most `keep`', async () => {
    const fh = await open(file, 'r');
    try {
      const pool = new ReadBuffers(1);
      pool.give(Buffer.alloc(512 * 1024)); // foreign: would be overwritten under its owner
      pool.give(Buffer.from('x')); // a slice of Node's shared pool
      expect(pool.spare).toBe(0);
      const a = await pool.read(fh, 0, 70 * 1024, file);
      const b = await pool.read(fh, 0, 70 * 1024, file);
      pool.give(a);
      pool.give(a);
      pool.give(b);
      expect(pool.spare).toBe(1);
      // a buffer too small for a request is not used for it
      const big = await pool.read(fh, 0, 500 * 1024, file);
      expect(big.buffer).not.toBe(a.buffer);
      expect(big.equals(data.subarray(0, 500 * 1024))).toBe(true);
    } finally {
      await fh.close();
    }
  });

  it('a file that became shorter fails with FERRY_ERR_PRECONDITION_FAILED and the buffer stays usable', async () => {
    const fh = await open(file, 'r');
    try {
      const pool = new ReadBuffers(2);
      await expect(pool.read(fh, 500 * 1024, 200 * 1024, file)).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_PRECONDITION_FAILED'));
      expect(pool.spare).toBe(1);
      const a = await pool.read(fh, 0, 100 * 1024, file);
      expect(a.equals(data.subarray(0, 100 * 1024))).toBe(true);
    } finally {
      await fh.close();
    }
  });
});

/**
 * A real file handle whose writes are watched: each call's length is noted, and with `short`
 * every write puts down only `short(length)` bytes of what it was given (a full disk's
 * partial write, a signal), so the caller must go on from where it stopped.
 */
function watched(fh: FileHandle, short: (length: number) => number = (n) => n): { fh: FileHandle; lengths: number[] } {
  const lengths: number[] = [];
  const cut = (pieces: Uint8Array[], length: number) => {
    let keep = short(length);
    const out: Uint8Array[] = [];
    for (const p of pieces) {
      if (keep <= 0) break;
      out.push(p.subarray(0, Math.min(p.length, keep)));
      keep -= out[out.length - 1].length;
    }
    return out;
  };
  const proxy = new Proxy(fh, {
    get(target, prop) {
      if (prop === 'writev')
        return async (pieces: Uint8Array[], position: number) => {
          const length = pieces.reduce((n, p) => n + p.length, 0);
          lengths.push(length);
          return target.writev(cut(pieces, length), position);
        };
      if (prop === 'write')
        return async (buf: Uint8Array, offset: number, length: number, position: number) => {
          lengths.push(length);
          return target.write(buf, offset, short(length), position);
        };
      const v = Reflect.get(target, prop) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { fh: proxy, lengths };
}

describe('writevAt and writeAt', () => {
  // Pieces of odd sizes that straddle the slices' edges, an empty one among them.
  const sizes = [1, WRITE_SLICE_BYTES - 3, 0, 7, 2 * WRITE_SLICE_BYTES + 5, 300 * 1024, 9];

  it('write the pieces back to back in writes of at most WRITE_SLICE_BYTES', async () => {
    const pieces = sizes.map((n) => randomBytes(n));
    const all = Buffer.concat(pieces);
    const handle = await open(file, 'r+');
    const w = watched(handle);
    try {
      await writevAt(w.fh, pieces, 1000);
    } finally {
      await handle.close();
    }
    const got = await readFile(file);
    expect(got.subarray(0, 1000).equals(data.subarray(0, 1000))).toBe(true);
    expect(got.subarray(1000, 1000 + all.length).equals(all)).toBe(true);
    expect(Math.max(...w.lengths)).toBe(WRITE_SLICE_BYTES);
    expect(w.lengths.reduce((a, b) => a + b, 0)).toBe(all.length);
    expect(w.lengths.length).toBe(Math.ceil(all.length / WRITE_SLICE_BYTES));
  });

  it('go on from where a short write stopped, whatever piece it stopped in', async () => {
    // Short by one byte; by a page; half of each write (rounded up: never nothing).
    for (const short of [(n: number) => Math.max(1, n - 1), (n: number) => Math.max(1, n - 4096), (n: number) => Math.ceil(n / 2)]) {
      const pieces = sizes.map((n) => randomBytes(n));
      const all = Buffer.concat(pieces);
      const handle = await open(file, 'w+');
      const w = watched(handle, short);
      try {
        await writevAt(w.fh, pieces, 0);
        await writeAt(w.fh, all, all.length);
      } finally {
        await handle.close();
      }
      const got = await readFile(file);
      expect(got.length).toBe(2 * all.length);
      expect(got.subarray(0, all.length).equals(all)).toBe(true);
      expect(got.subarray(all.length).equals(all)).toBe(true);
      expect(w.lengths.every((n) => n <= WRITE_SLICE_BYTES)).toBe(true);
    }
  });
});
