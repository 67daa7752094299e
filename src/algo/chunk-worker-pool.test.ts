import { describe, expect, it } from 'vitest';
import { workerUrl } from './chunk-file.js';
import { ChunkWorkerPool } from './chunk-worker-pool.js';

describe('ChunkWorkerPool', () => {
  it('warms up to the count asked for, never past its idle limit, and lets idle workers go', async () => {
    const pool = new ChunkWorkerPool(workerUrl, 3, 200);
    pool.warm(2);
    expect(pool.idleCount).toBe(2);
    pool.warm(2);
    expect(pool.idleCount).toBe(2);
    pool.warm(10);
    expect(pool.idleCount).toBe(3);
    const w = pool.acquire();
    expect(pool.idleCount).toBe(2);
    pool.warm(1);
    expect(pool.idleCount).toBe(2);
    await pool.discard(w);
    // Idle workers end after idleMs.
    await new Promise((r) => setTimeout(r, 600));
    expect(pool.idleCount).toBe(0);
  });
});
