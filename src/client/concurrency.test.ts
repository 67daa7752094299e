import { describe, expect, it } from 'vitest';
import { isFerryError } from '../core/errors.js';
import { forEachConcurrent } from './concurrency.js';

/** An endless async generator that says whether its `finally` ran (a listing's request closed). */
function endless(): { items: AsyncGenerator<number>; closed: () => boolean } {
  let closed = false;
  async function* gen(): AsyncGenerator<number> {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      closed = true;
    }
  }
  return { items: gen(), closed: () => closed };
}

describe('forEachConcurrent stopped early', () => {
  it('an abort closes the generator it was reading (its finally runs), then rejects with FERRY_ERR_ABORTED', async () => {
    const ac = new AbortController();
    const { items, closed } = endless();
    const done = forEachConcurrent(items, 3, async (n) => {
      if (n === 10) ac.abort();
      await new Promise((r) => setImmediate(r));
    }, ac.signal);
    await expect(done).rejects.toSatisfy((e) => isFerryError(e, 'FERRY_ERR_ABORTED'));
    expect(closed()).toBe(true);
    expect(await items.next()).toEqual({ done: true, value: undefined });
  });

  it('an error closes it too, and is the one rethrown', async () => {
    const { items, closed } = endless();
    await expect(forEachConcurrent(items, 2, async (n) => {
      if (n === 5) throw new Error('job 5 failed');
    })).rejects.toThrow('job 5 failed');
    expect(closed()).toBe(true);
  });

  it('a generator read to its end is not closed again', async () => {
    const seen: number[] = [];
    async function* three(): AsyncGenerator<number> {
      yield* [1, 2, 3];
    }
    await forEachConcurrent(three(), 2, async (n) => void seen.push(n));
    expect(seen.sort()).toEqual([1, 2, 3]);
  });
});
