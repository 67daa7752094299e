/**
 * Chunking of one segment of a file, as a state machine that does no I/O itself, so that
 * the worker (blocking reads) and the in-thread path (async reads) share one implementation.
 *
 * A segment `[start, end)` is chunked as if the file began at `start`. When the segment is
 * not the last one, its chunker goes on past `end` until it reaches a cut that the
 * chunking started at `end` (the next segment's) also has; from that cut on the two
 * chunkings are the same, because where a chunk ends depends only on where it starts.
 * The chunker follows the next segment's chunking itself (cut points only, no hashing),
 * so segments need no messages between them. The cut it stops at, `endOffset`, is where
 * the next segment's records become valid (see `chunk-file.ts` for the stitching).
 * If the two chunkings never meet, this chunker simply goes on to the end of the file: the
 * sequential fallback.
 */
import { hash } from 'node:crypto';
import { IoError } from '../core/errors.js';
import type { CdcKernel } from './cdc-kernel.js';

/** One chunk of a file: where it is and the SHA-256 of its bytes. */
export interface ChunkRecord {
  /** Byte offset in the file. */
  offset: number;
  /** Length in bytes, from 1 to maxSize. */
  size: number;
  /** SHA-256 of the chunk's bytes, 64 lowercase hex digits. */
  hash: string;
}

/** A read the driver must do next: `length` bytes at file `position` into `kernel.data[offset...]`. */
export interface ReadRequest {
  offset: number;
  length: number;
  position: number;
}

export class SegmentChunker {
  /** File offset of `data[0]`. */
  private base: number;
  /** Bytes of `data` holding file content. */
  private filled = 0;
  /** Start of this segment's next chunk (file offset). */
  private next: number;
  /** Next cut of the chunking that starts at `end`; -1 until this chunking passes `end`. */
  private follow = -1;
  private eof = false;
  private finished = false;
  private fileSize: number;

  /**
   * @param kernel its data area must hold 3 × maxSize bytes when the segment is not the last
   *   (two chunkings up to maxSize apart, each needing maxSize ahead, plus room to read),
   *   otherwise 2 × maxSize or the rest of the file, whichever is less
   * @param start first byte of the segment
   * @param end end of the segment; `Infinity` or the file size for the last segment
   * @param fileSize bytes in the file, or `Infinity` when unknown (then the driver reports
   *   the end with `fed(0)`)
   */
  constructor(
    private readonly kernel: CdcKernel,
    readonly start: number,
    readonly end: number,
    fileSize: number,
  ) {
    const max = kernel.masks.max;
    const needed = end < fileSize ? 3 * max : Math.min(2 * max, fileSize - start);
    if (kernel.data.length < needed) {
      throw new RangeError(`segment chunker needs a data area of at least ${needed} bytes, has ${kernel.data.length}`);
    }
    this.base = start;
    this.next = start;
    this.fileSize = fileSize;
  }

  /** True once every record of the segment has been produced. */
  get done(): boolean {
    return this.finished;
  }

  /**
   * Where the segment's records end: the file size for the last segment, otherwise the
   * first cut shared with the next segment's chunking. Valid once `done`.
   */
  get endOffset(): number {
    return this.next;
  }

  /** The file size, once known. */
  get size(): number {
    return this.fileSize;
  }

  /** The next read to do; moves the bytes still needed to the front of the data area first. */
  nextRead(): ReadRequest {
    const keep = this.follow >= 0 && this.follow < this.next ? this.follow : this.next;
    const drop = keep - this.base;
    if (drop > 0) {
      // At most 2 × maxSize bytes move (both cursors lie within maxSize of each other), in
      // exchange for a read of at least the rest of the data area: cut needs contiguous bytes.
      this.kernel.data.copyWithin(0, drop, this.filled);
      this.filled -= drop;
      this.base = keep;
    }
    const position = this.base + this.filled;
    const length = Math.min(this.kernel.data.length - this.filled, this.fileSize - position);
    if (!(length > 0)) throw new Error(`segment chunker: no room to read at ${position} (bug)`);
    return { offset: this.filled, length, position };
  }

  /**
   * Accounts for a completed read of `bytesRead` bytes (0 means end of file: only allowed
   * when the size was unknown; a known-size file that ends early throws).
   */
  fed(bytesRead: number): void {
    if (bytesRead === 0) {
      const at = this.base + this.filled;
      if (Number.isFinite(this.fileSize)) {
        throw new IoError(`the file ended at byte ${at}, before its size ${this.fileSize}: it changed while being read`);
      }
      this.fileSize = at;
    }
    this.filled += bytesRead;
    if (this.base + this.filled >= this.fileSize) this.eof = true;
  }

  /**
   * Cuts and hashes what the data area holds, appending records to `out`; returns when more
   * data is needed (call `nextRead`) or when `done`.
   */
  process(out: ChunkRecord[]): void {
    const k = this.kernel;
    const data = k.data;
    const filled = this.filled;
    const final = this.eof;
    const last = !(this.end < this.fileSize);
    for (;;) {
      if (!last && this.next >= this.end) {
        if (this.follow < 0) this.follow = this.end;
        if (this.follow === this.next) {
          this.finished = true;
          return;
        }
        if (this.follow < this.next) {
          const len = k.cut(this.follow - this.base, filled, final);
          if (len === 0) return;
          this.follow += len;
          continue;
        }
      } else if (this.next >= this.fileSize) {
        this.finished = true;
        return;
      }
      const at = this.next - this.base;
      const len = k.cut(at, filled, final);
      if (len === 0) return;
      out.push({ offset: this.next, size: len, hash: hash('sha256', data.subarray(at, at + len), 'hex') });
      this.next += len;
    }
  }
}
