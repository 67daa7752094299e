import { describe, expect, it } from 'vitest';
import { onFirstUse } from './lazy.js';

describe('onFirstUse', () => {
  it('loads once, concurrent first calls sharing the load', async () => {
    let loads = 0;
    const get = onFirstUse(async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 5));
      return { n: loads };
    });
    const [a, b, c] = await Promise.all([get(), get(), get()]);
    expect(loads).toBe(1);
    expect(a).toBe(b);
    expect(b).toBe(c);
    expect(await get()).toBe(a);
  });

  it('does not keep a failed load: the next call tries again', async () => {
    let calls = 0;
    const get = onFirstUse(async () => {
      calls++;
      if (calls === 1) throw new Error('disk hiccup');
      return 'loaded';
    });
    const first = await Promise.allSettled([get(), get()]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    expect(await get()).toBe('loaded');
    expect(calls).toBe(2);
  });
});
