import { mkdtemp, readFile, rm, stat, statfs, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiskReserve, RESERVE_FILE, reserveSizeFor } from './disk-reserve.js';

describe('DiskReserve.hold', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ferry-reserve-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the reserve once: a restart keeps one of the right size as it is, and rewrites one of another size', async () => {
    const log = pino({ level: 'silent' });
    const first = new DiskReserve(dir, log);
    expect(await first.hold()).toBe(true);
    const file = join(dir, RESERVE_FILE);
    const before = await readFile(file);
    const disk = await statfs(dir);
    expect(before.length).toBe(reserveSizeFor(disk.blocks * disk.bsize));
    // A second start: the same bytes (random blocks, so a rewrite would differ).
    const second = new DiskReserve(dir, log);
    expect(await second.hold()).toBe(true);
    expect((await readFile(file)).equals(before)).toBe(true);
    expect(second.full).toBe(false);
    // A reserve cut short (a crash mid-write) is written again in full.
    await truncate(file, 4096);
    expect(await new DiskReserve(dir, log).hold()).toBe(true);
    expect((await stat(file)).size).toBe(before.length);
  });
});
