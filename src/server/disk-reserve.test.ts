import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, statfs, truncate, writeFile } from 'node:fs/promises';
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
    // Random bytes to its last one (a compressing file system would store zeros in nothing).
    for (const at of [0, before.length - 4096]) expect(before.subarray(at, at + 4096).equals(Buffer.alloc(4096))).toBe(false);
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

  it('on a disk without room for all of it: the write fails midway, the part written is removed, the disk taken as full', async () => {
    const mnt = join(dir, 'small');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
    try {
      // The reserve of a 2 MiB disk is 256 KiB; leave 128 KiB.
      await writeFile(join(mnt, 'filler'), Buffer.alloc(2 * 1024 * 1024 - 128 * 1024, 1));
      const changes: boolean[] = [];
      const reserve = new DiskReserve(mnt, pino({ level: 'silent' }), (full) => changes.push(full));
      expect(await reserve.hold()).toBe(false);
      expect(reserve.full).toBe(true);
      expect(changes).toEqual([true]);
      expect(existsSync(join(mnt, RESERVE_FILE))).toBe(false);
      // Room again: held in full.
      await rm(join(mnt, 'filler'));
      expect(await reserve.hold()).toBe(true);
      expect(reserve.full).toBe(false);
      expect((await stat(join(mnt, RESERVE_FILE))).size).toBe(256 * 1024);
    } finally {
      execFileSync('umount', [mnt]);
    }
  });
});
