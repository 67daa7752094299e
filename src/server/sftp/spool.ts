/**
 * Spool files: where SFTP writes that do not arrive in order wait on disk, instead of in
 * memory, until the file is closed (sshfs writing pages back out of order, clients that
 * rewrite what they wrote, a client sending blocks back to front). A spool file is sparse:
 * each write lands at its own offset; an {@link ExtentSet} remembers which ranges hold
 * written bytes (later writes win where they overlap). Spool files live in one directory
 * under the data directory, are deleted when their upload ends, and the directory is
 * emptied when the SFTP front starts (what a crash left behind).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError } from '../../core/errors.js';

/** Sorted, disjoint, non-adjacent half-open ranges [start, end). */
export class ExtentSet {
  private ranges: [number, number][] = [];

  /**
   * Marks [start, end) as written: the ranges it touches or overlaps become one. Found by
   * binary search, so a write costs O(log n) plus one splice, not a pass over every range
   * (a client writing single bytes with gaps between made that quadratic: 100,000 writes of
   * one byte took 20 s of the server's CPU).
   */
  add(start: number, end: number): void {
    if (end <= start) return;
    const r = this.ranges;
    let lo = 0;
    let hi = r.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r[mid][1] < start) lo = mid + 1;
      else hi = mid;
    }
    let s = start;
    let e = end;
    let j = lo;
    for (; j < r.length && r[j][0] <= e; j++) {
      s = Math.min(s, r[j][0]);
      e = Math.max(e, r[j][1]);
    }
    r.splice(lo, j - lo, [s, e]);
  }

  /** How many separate ranges are written. */
  get count(): number {
    return this.ranges.length;
  }

  /** Forgets everything at or beyond `at` (a truncation). */
  truncate(at: number): void {
    this.ranges = this.ranges.filter(([a]) => a < at).map(([a, b]) => [a, Math.min(b, at)] as [number, number]);
  }

  /** The written ranges overlapping [start, end), clipped to it, in order. */
  within(start: number, end: number): [number, number][] {
    const out: [number, number][] = [];
    for (const [a, b] of this.ranges) {
      if (b <= start) continue;
      if (a >= end) break;
      out.push([Math.max(a, start), Math.min(b, end)]);
    }
    return out;
  }

  /** Start of the first written range, or Infinity. */
  get first(): number {
    return this.ranges.length > 0 ? this.ranges[0][0] : Infinity;
  }

  /** End of the last written range, or 0. */
  get end(): number {
    return this.ranges.length > 0 ? this.ranges[this.ranges.length - 1][1] : 0;
  }

  get empty(): boolean {
    return this.ranges.length === 0;
  }
}

/**
 * Separate written ranges a spool file may hold. Real clients write in order, or out of
 * order over a small window (sshfs), which leaves a few ranges; many thousands are a client
 * writing bytes with gaps between on purpose, each one work for the server at the close.
 */
export const MAX_EXTENTS = 65_536;

export class SpoolDir {
  constructor(readonly dir: string) {}

  /** Makes the directory and removes what an earlier run left in it. */
  async prepare(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const name of await readdir(this.dir)) await rm(join(this.dir, name), { force: true, recursive: true });
  }

  async create(): Promise<SpoolFile> {
    const path = join(this.dir, `spool-${randomBytes(8).toString('hex')}`);
    return new SpoolFile(path, await open(path, 'wx+', 0o600));
  }
}

/** One sparse temporary file and the ranges written to it. */
export class SpoolFile {
  readonly written = new ExtentSet();

  constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  async write(offset: number, data: Uint8Array): Promise<void> {
    if (this.written.count >= MAX_EXTENTS) {
      throw new ValidationError(`the file is written in more than ${MAX_EXTENTS} separate pieces: write it in order (as sftp, scp and rclone do)`, { details: { max: MAX_EXTENTS } });
    }
    let at = 0;
    while (at < data.length) {
      const { bytesWritten } = await this.fh.write(data, at, data.length - at, offset + at);
      at += bytesWritten;
    }
    this.written.add(offset, offset + data.length);
  }

  /** Exactly `length` bytes at `offset` (which must have been written). */
  async read(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let at = 0;
    while (at < length) {
      const { bytesRead } = await this.fh.read(buf, at, length - at, offset + at);
      if (bytesRead === 0) throw new Error(`spool ${this.path}: short read at ${offset + at}`);
      at += bytesRead;
    }
    return buf;
  }

  truncate(at: number): void {
    this.written.truncate(at);
  }

  async remove(): Promise<void> {
    await this.fh.close().catch(() => undefined);
    await rm(this.path, { force: true });
  }
}
