import { describe, expect, it } from 'vitest';
import { WriteGroups } from './write-groups.js';

/** A writer that records its calls and lets the test finish each one. */
function controlledWriter(fail: (items: number[]) => boolean = () => false) {
  const calls: number[][] = [];
  const pending: Array<() => void> = [];
  const write = (items: number[]): Promise<number[]> => {
    calls.push(items);
    return new Promise((resolve, reject) => {
      pending.push(() => (fail(items) ? reject(new Error(`bad group ${items.join(',')}`)) : resolve(items.map((i) => i * 10))));
    });
  };
  const finishNext = async (): Promise<void> => {
    await new Promise((r) => setImmediate(r));
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { calls, write, finishNext };
}

describe('WriteGroups', () => {
  it('writes a lone item at once, and the items that come meanwhile together in the next group', async () => {
    const w = controlledWriter();
    const groups = new WriteGroups(w.write, 10);
    const first = groups.add(1);
    await new Promise((r) => setImmediate(r));
    expect(w.calls).toEqual([[1]]);
    const later = [groups.add(2), groups.add(3), groups.add(4)];
    expect(w.calls).toEqual([[1]]); // waiting for the first group
    await w.finishNext();
    expect(await first).toBe(10);
    expect(w.calls).toEqual([[1], [2, 3, 4]]);
    await w.finishNext();
    expect(await Promise.all(later)).toEqual([20, 30, 40]);
    expect(groups.groups).toBe(2);
  });

  it('groups items added in the same turn, at most maxItems to a group', async () => {
    const w = controlledWriter();
    const groups = new WriteGroups(w.write, 2);
    const all = [1, 2, 3, 4, 5].map((i) => groups.add(i));
    await w.finishNext();
    await w.finishNext();
    await w.finishNext();
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50]);
    expect(w.calls).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('writes a failed group again item by item, so that only the bad item fails its caller', async () => {
    const w = controlledWriter((items) => items.includes(3));
    const groups = new WriteGroups(w.write, 10);
    const all = [1, 2, 3, 4].map((i) => groups.add(i).then(String, (e: Error) => e.message));
    for (let i = 0; i < 5; i++) await w.finishNext();
    expect(await Promise.all(all)).toEqual(['10', '20', 'bad group 3', '40']);
    expect(w.calls).toEqual([[1, 2, 3, 4], [1], [2], [3], [4]]);
    // It goes on after a failure.
    const next = groups.add(5);
    await w.finishNext();
    expect(await next).toBe(50);
  });

  it('refuses a group size below one', () => {
    expect(() => new WriteGroups(async (items: number[]) => items, 0)).toThrow(RangeError);
  });
});
