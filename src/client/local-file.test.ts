import { writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { tempDir } from '../../test/helpers/files.js';
import { ReadBuffers } from './local-file.js';

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
