import { describe, expect, it } from 'vitest';
import { ChunkBuffers } from './chunk-buffers.js';

describe('ChunkBuffers', () => {
  it('hands out shared buffers of the capacity, reused once released', () => {
    const pool = new ChunkBuffers(2, 1000);
    const a = pool.acquire(10);
    expect(a.length).toBe(1000);
    expect(a.buffer).toBeInstanceOf(SharedArrayBuffer);
    const b = pool.acquire(1000);
    expect(b).not.toBe(a);
    pool.release(a);
    expect(pool.acquire(500)).toBe(a);
  });

  it('allocates a larger buffer for a chunk beyond the capacity, and never hands out one too small', () => {
    const pool = new ChunkBuffers(2, 1000);
    const small = pool.acquire(1);
    pool.release(small);
    const large = pool.acquire(5000);
    expect(large.length).toBe(5000);
    pool.release(large);
    expect(pool.acquire(4000)).toBe(large);
    expect(pool.acquire(900)).toBe(small);
  });

  it('keeps at most maxFree buffers, preferring the larger ones', () => {
    const pool = new ChunkBuffers(1, 100);
    const a = pool.acquire(100);
    const b = pool.acquire(300);
    pool.release(a);
    pool.release(b);
    expect(pool.acquire(200)).toBe(b);
    expect(pool.acquire(100)).not.toBe(a); // a was dropped
  });
});
