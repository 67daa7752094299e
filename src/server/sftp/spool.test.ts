import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExtentSet, SpoolDir } from './spool.js';

describe('ExtentSet', () => {
  it('merges overlapping and touching ranges, clips queries, truncates', () => {
    const e = new ExtentSet();
    e.add(10, 20);
    e.add(30, 40);
    e.add(20, 25); // touches: merges
    e.add(35, 50);
    e.add(5, 6);
    e.add(7, 7); // empty: ignored
    expect(e.within(0, 100)).toEqual([[5, 6], [10, 25], [30, 50]]);
    expect(e.within(12, 33)).toEqual([[12, 25], [30, 33]]);
    expect([e.first, e.end]).toEqual([5, 50]);
    e.add(0, 100);
    expect(e.within(0, 1000)).toEqual([[0, 100]]);
    e.truncate(42);
    expect(e.within(0, 1000)).toEqual([[0, 42]]);
    expect(new ExtentSet().empty).toBe(true);
  });
});

describe('SpoolDir', () => {
  it('empties itself at start and reads back what was written where', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-spool-'));
    try {
      await writeFile(join(dir, 'spool-left-by-a-crash'), 'x');
      const spool = new SpoolDir(join(dir));
      await spool.prepare();
      expect(await readdir(dir)).toEqual([]);
      const f = await spool.create();
      await f.write(1_000_000, Buffer.from('far'));
      await f.write(0, Buffer.from('near'));
      expect((await f.read(1_000_000, 3)).toString()).toBe('far');
      expect((await f.read(0, 4)).toString()).toBe('near');
      expect(f.written.within(0, 2_000_000)).toEqual([[0, 4], [1_000_000, 1_000_003]]);
      await f.remove();
      expect(await readdir(dir)).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
