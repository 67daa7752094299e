import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ChunkBuffers } from './chunk-buffers.js';

const MiB = 1024 * 1024;

describe('ChunkBuffers', () => {
  it('hands out shared buffers rounded up to a MiB, the smallest free one that fits', () => {
    const pool = new ChunkBuffers(4);
    const a = pool.acquire(10)!;
    expect(a.length).toBe(MiB);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    const b = pool.acquire(3 * MiB - 1)!;
    expect(b.length).toBe(3 * MiB);
    pool.release(b);
    pool.release(a);
    expect(pool.acquire(500)).toBe(a);
    const c = pool.acquire(2 * MiB)!; // b fits
    expect(c).toBe(b);
    expect(pool.acquire(2 * MiB)!.length).toBe(2 * MiB); // none free: a new one
    expect(pool.allocated).toBe(3);
  });

  it('never allocates more than its maximum: none when all are in use, a free one replaced by a larger one', () => {
    const pool = new ChunkBuffers(2);
    const a = pool.acquire(MiB)!;
    const b = pool.acquire(MiB)!;
    expect(pool.acquire(1)).toBeUndefined();
    pool.release(a);
    const c = pool.acquire(4 * MiB)!;
    expect(c.length).toBe(4 * MiB);
    expect(pool.allocated).toBe(2);
    pool.release(b);
    pool.release(c);
    expect(pool.acquire(2 * MiB)).toBe(c);
    expect(pool.acquire(MiB)).toBe(b);
  });

  it('drops its free buffers on dropFree, not those lent out, and allocates anew after', () => {
    const pool = new ChunkBuffers(2);
    const a = pool.acquire(MiB)!;
    const b = pool.acquire(MiB)!;
    pool.release(a);
    pool.dropFree();
    expect(pool.allocated).toBe(1); // b, still lent
    const c = pool.acquire(MiB)!;
    expect(c === a).toBe(false); // (not `.not.toBe`: vitest compares the MiB element by element)
    expect(pool.allocated).toBe(2);
    expect(pool.acquire(MiB)).toBeUndefined();
    pool.release(b);
    pool.release(c);
    pool.dropFree();
    expect(pool.allocated).toBe(0);
    const d = pool.acquire(MiB)!;
    expect(d === b || d === c).toBe(false);
  });

  it('counts out a buffer lent and never given back, once it is collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const pool = new ChunkBuffers(1);
    (() => void pool.acquire(MiB))();
    expect(pool.acquire(MiB)).toBeUndefined();
    for (let i = 0; i < 10 && pool.allocated > 0; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(pool.allocated).toBe(0);
    expect(pool.acquire(MiB)).toBeDefined();
  });
});
