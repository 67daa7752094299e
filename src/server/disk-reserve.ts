/**
 * Room kept back on the data directory's disk, so that a full disk can still be cleaned up.
 *
 * SQLite writes to delete (the rows change in the WAL before the pages are freed), and so
 * does moving a file to the trash: on a disk filled to the last byte, `ferry rm` failed as
 * the uploads did (`507 FERRY_ERR_NO_SPACE`), and nothing but the operator's shell could make
 * room. The server therefore holds a reserve file (`disk-reserve` in the data directory). The
 * first write refused for space ({@link DiskReserve.sawFull}) removes it: the room it held is
 * there for deletes, while new uploads are refused (their sessions are not opened: see the
 * admission check in ./app.ts) so that they do not take it. /readyz answers 503 and
 * `ferry_data_disk_full` is 1 until {@link DiskReserve.check} finds twice the reserve free
 * again, writes the reserve back and takes uploads again. The same look releases the reserve
 * before any write fails once the disk is nearly full.
 *
 * SQLite settings alone were not enough: the WAL reuses its file only after a checkpoint,
 * which itself may need room in the database file, and a delete that moves to the trash adds
 * rows. A reserve works whatever filled the disk (our chunks, another program, the logs).
 */
import { randomFillSync } from 'node:crypto';
import { open, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';

/** The reserve file's name in the data directory. */
export const RESERVE_FILE = 'disk-reserve';

/** The reserve: 1% of the disk, at least 256 KiB (a few hundred SQLite pages), at most 16 MiB. */
export function reserveSizeFor(diskBytes: number): number {
  return Math.min(16 * 1024 * 1024, Math.max(256 * 1024, Math.floor(diskBytes / 100 / 4096) * 4096));
}

export class DiskReserve {
  /** Whether the disk is taken as full: the reserve is not held (released, or no room to write it). */
  full = false;
  private size = 0;
  private checking?: Promise<void>;

  constructor(
    private readonly dataDir: string,
    private readonly log: FastifyBaseLogger,
    /** Called with the new state whenever {@link full} changes (the metric). */
    private readonly onChange: (full: boolean) => void = () => {},
  ) {}

  get file(): string {
    return join(this.dataDir, RESERVE_FILE);
  }

  /** Writes the reserve (at start, and once there is room again); false when it does not fit. */
  async hold(): Promise<boolean> {
    const disk = await statfs(this.dataDir);
    this.size ||= reserveSizeFor(disk.blocks * disk.bsize);
    // A reserve of this size left by the last run holds the room already: kept, not written again.
    if ((await stat(this.file).catch(() => undefined))?.size === this.size) {
      this.setFull(false);
      return true;
    }
    // Random bytes, not zeros: a file system that compresses (btrfs, ZFS) would store zeros in nothing.
    const block = randomFillSync(Buffer.alloc(64 * 1024));
    const fh = await open(this.file, 'w', 0o600);
    try {
      // No fsync: the file system takes the room at write() (delayed allocation reserves it
      // too), which is all the reserve is for; a sync would stall every start on the disk.
      // One writev of the block repeated, not a write per block: a first start wrote its 16 MiB
      // in 256 writes, each a round trip through libuv's pool on the start's path, 12-18 ms of
      // CPU and 17-130 ms of wall against 3.6 and 7-50 (benchmarks/results/issue-15-speed.md,
      // branch speed18). A short writev (the disk filling meanwhile) goes on block by block.
      const blocks: Buffer[] = [];
      for (let at = 0; at < this.size; at += block.length) blocks.push(block.subarray(0, Math.min(block.length, this.size - at)));
      let written = (await fh.writev(blocks, 0)).bytesWritten;
      while (written < this.size) {
        const { bytesWritten } = await fh.write(block, 0, Math.min(block.length, this.size - written), written);
        if (bytesWritten === 0) throw Object.assign(new Error('no room for the disk reserve'), { code: 'ENOSPC' });
        written += bytesWritten;
      }
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(this.file, { force: true });
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      if (!this.full) this.log.error({ reserveFile: this.file, reserveBytes: this.size }, "the data directory's disk is full: no room for its reserve; new uploads are refused and /readyz answers 503 until there is room");
      this.setFull(true);
      return false;
    }
    await fh.close();
    this.setFull(false);
    return true;
  }

  /**
   * A write was refused for space (`FERRY_ERR_NO_SPACE`): releases the reserve, once, so that
   * deletes find room; logged as an error with what an operator can do.
   */
  async sawFull(log: FastifyBaseLogger = this.log): Promise<void> {
    if (this.full) return;
    this.setFull(true);
    await rm(this.file, { force: true });
    log.error(
      { reserveFile: this.file, reserveBytes: this.size },
      `the data directory's disk is full: its ${this.size}-byte reserve was released so that deletes can go on; new uploads are refused and /readyz answers 503 until there is room again (delete files, empty the trash, run ferry admin gc)`,
    );
  }

  /**
   * Looks at the disk (every 10 s, and at each readiness probe): a disk with less than a
   * quarter of the reserve free is taken as full before a write fails (the reserve released:
   * a `ferry rm` on a disk that something else filled then works at its first try); a full
   * one whose free room is back to twice the reserve holds it again. Concurrent callers share one look.
   */
  check(): Promise<void> {
    this.checking ??= this.look().finally(() => (this.checking = undefined));
    return this.checking;
  }

  /** Why the node is not ready, or undefined. */
  unreadiness(): string | undefined {
    return this.full ? "the data directory's disk is full" : undefined;
  }

  private async look(): Promise<void> {
    const disk = await statfs(this.dataDir);
    const free = disk.bavail * disk.bsize;
    const size = this.size || reserveSizeFor(disk.blocks * disk.bsize);
    if (!this.full) {
      if (free < size / 4) await this.sawFull();
      return;
    }
    if (free < 2 * size) return;
    if (await this.hold()) this.log.info({ reserveFile: this.file, reserveBytes: this.size }, "room again on the data directory's disk: the reserve is held again and uploads are taken");
  }

  private setFull(full: boolean): void {
    if (full !== this.full) this.onChange(full);
    this.full = full;
  }
}
