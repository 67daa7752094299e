import { describe, expect, it } from 'vitest';
import { ManifestChunkSets } from './downloads.js';

const refs = (n: number, tag: string) => Array.from({ length: n }, (_, i) => ({ hash: `${tag}${i}`, size: 1 }));

describe('ManifestChunkSets', () => {
  it('loads a manifest once, answers membership, and stays within its bound', async () => {
    const cache = new ManifestChunkSets(10);
    let loads = 0;
    const load = (n: number, tag: string) => async () => (loads++, refs(n, tag));
    expect(await cache.has('m1', 'a3', load(6, 'a'))).toBe(true);
    expect(await cache.has('m1', 'b3', load(6, 'a'))).toBe(false);
    expect(loads).toBe(1);
    await cache.has('m2', 'b0', load(6, 'b')); // 12 held > 10: m1 goes
    await cache.has('m1', 'a0', load(6, 'a'));
    expect(loads).toBe(3);
  });
});
