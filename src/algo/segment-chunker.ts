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
 *
 * With a {@link ChunkGuide} (the chunk list of the file's previous version) a chunking first
 * tries the chunk the guide expects where it stands: SHA-256 of that range, no cut-point
 * scan (chunk-guide.ts says why the records stay those of unguided chunking). The follower
 * is guided the same way: it follows exactly what the next segment's chunker does.
 */
import { hash } from 'node:crypto';
import { IoError } from '../core/errors.js';
import type { CdcKernel } from './cdc-kernel.js';
import { guideCheckDue, type ChunkGuide } from './chunk-guide.js';
import { mayEndAt } from './fastcdc.js';

/** One chunk of a file: where it is and the SHA-256 of its bytes. */
export interface ChunkRecord {
  /** Byte offset in the file. */
  offset: number;
  /** Length in bytes, from 1 to maxSize. */
  size: number;
  /** SHA-256 of the chunk's bytes, 64 lowercase hex digits. */
  hash: string;
  /**
   * The chunk as one zstd frame, when the chunker was asked to compress (chunk-file.ts,
   * `compress`) and it pays; absent otherwise (incompressible, or not asked).
   */
  frame?: ChunkFrame;
}

/** A chunk's zstd frame made by a chunking worker, held against its run's budget until released. */
export interface ChunkFrame {
  /** The frame; its memory is its own (transferred from the worker). */
  readonly bytes: Uint8Array;
  /** Gives the frame's bytes back to the budget (the frame was sent, or will not be); idempotent. */
  release(): void;
}

/** A read the driver must do next: `length` bytes at file `position` into `kernel.data[offset...]`. */
export interface ReadRequest {
  offset: number;
  length: number;
  position: number;
}

/** Where one chunking stands. */
interface Cursor {
  /** File offset where its next chunk starts. */
  at: number;
  /** Index of the guide chunk expected at `at`, or -1: the next chunk is cut by content. */
  expect: number;
  /** Guide chunks accepted so far (for {@link guideCheckDue}). */
  accepted: number;
  /** False once a check failed (the guide was cut otherwise): cut by content from then on. */
  guided: boolean;
  /**
   * The SHA-256 of the guide chunk just tried at `at` that did not match: an edit that
   * moved nothing (a tar's padding absorbs a line added to a file) leaves its cut where it
   * was, and the chunk cut by content is then that same range, whose hash is this one.
   */
  missed?: { size: number; hash: string };
}

/** {@link SegmentChunker.step}'s answer when more data is needed. */
const NEED_DATA = 0;

export class SegmentChunker {
  /** File offset of `data[0]`. */
  private base: number;
  /** Bytes of `data` holding file content. */
  private filled = 0;
  /** This segment's chunking. */
  private readonly main: Cursor;
  /** The chunking that starts at `end` (the next segment's), once this one passes `end`. */
  private follow: Cursor | undefined;
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
   * @param guide the previous version's chunks, tried first (see chunk-guide.ts)
   */
  constructor(
    private readonly kernel: CdcKernel,
    readonly start: number,
    readonly end: number,
    fileSize: number,
    private readonly guide?: ChunkGuide,
  ) {
    const max = kernel.masks.max;
    const needed = end < fileSize ? 3 * max : Math.min(2 * max, fileSize - start);
    if (kernel.data.length < needed) {
      throw new RangeError(`segment chunker needs a data area of at least ${needed} bytes, has ${kernel.data.length}`);
    }
    this.base = start;
    this.main = this.cursorAt(start);
    this.fileSize = fileSize;
  }

  /** A chunking that starts at `at`: as the chunker of a segment starting there begins. */
  private cursorAt(at: number): Cursor {
    return { at, expect: this.guide ? this.guide.startingAt(at) : -1, accepted: 0, guided: this.guide !== undefined };
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
    return this.main.at;
  }

  /** The file size, once known. */
  get size(): number {
    return this.fileSize;
  }

  /**
   * The bytes of a record {@link process} just gave (file offset and size), in the data area:
   * valid until the next {@link nextRead}.
   */
  bytesAt(offset: number, size: number): Uint8Array {
    const at = offset - this.base;
    if (at < 0 || at + size > this.filled) throw new RangeError(`segment chunker: bytes ${offset}+${size} are not in the data area`);
    return this.kernel.data.subarray(at, at + size);
  }

  /** The next read to do; moves the bytes still needed to the front of the data area first. */
  nextRead(): ReadRequest {
    const f = this.follow;
    const keep = f && f.at < this.main.at ? f.at : this.main.at;
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
    const main = this.main;
    const last = !(this.end < this.fileSize);
    for (;;) {
      if (!last && main.at >= this.end) {
        this.follow ??= this.cursorAt(this.end);
        const f = this.follow;
        if (f.at === main.at) {
          this.finished = true;
          return;
        }
        if (f.at < main.at) {
          if (this.step(f, undefined) === NEED_DATA) return;
          continue;
        }
      } else if (main.at >= this.fileSize) {
        this.finished = true;
        return;
      }
      if (this.step(main, out) === NEED_DATA) return;
    }
  }

  /**
   * Moves `c` over its next chunk and returns the chunk's length, or {@link NEED_DATA}.
   * The chunk is hashed when it goes to `out` or the guide needs its hash.
   */
  private step(c: Cursor, out: ChunkRecord[] | undefined): number {
    const g = this.guide;
    const at = c.at - this.base;
    if (g && c.guided && c.expect >= 0) {
      const guided = this.tryGuide(g, c, at);
      if (guided === NEED_DATA) return NEED_DATA;
      if (typeof guided === 'string') {
        const size = g.sizes[c.expect];
        out?.push({ offset: c.at, size, hash: guided });
        c.at += size;
        c.expect = c.expect + 1 < g.count ? c.expect + 1 : -1;
        return size;
      }
    }
    const data = this.kernel.data;
    const len = this.kernel.cut(at, this.filled, this.eof);
    if (len === 0) return NEED_DATA;
    const missed = c.missed;
    c.missed = undefined;
    if (out || (g && c.guided)) {
      const h = missed?.size === len ? missed.hash : hash('sha256', data.subarray(at, at + len), 'hex');
      out?.push({ offset: c.at, size: len, hash: h });
      if (g && c.guided) {
        // Back in step with the guide after an edit: its next chunk is expected next.
        const j = g.find(h);
        c.expect = j >= 0 && j + 1 < g.count ? j + 1 : -1;
      }
    }
    c.at += len;
    return len;
  }

  /**
   * The guide's expected chunk at `c` (data offset `at`): its hash when the bytes there
   * match it, NEED_DATA, or undefined when they do not (then `c` cuts by content).
   */
  private tryGuide(g: ChunkGuide, c: Cursor, at: number): string | typeof NEED_DATA | undefined {
    const k = this.kernel;
    const size = g.sizes[c.expect];
    const room = this.filled - at;
    const final = this.eof;
    // The guide's last chunk was cut by the end of its file: it counts only where this file ends too.
    const fits = size >= 1 && size <= k.masks.max && (c.expect < g.count - 1 || c.at + size === this.fileSize);
    const check = guideCheckDue(c.accepted);
    // A check cuts, and a cut needs maxSize bytes ahead (or the end of the file).
    if (fits && room < (check ? k.masks.max : size) && !final) return NEED_DATA;
    // Where an edit moved the bytes, the guide's chunk no longer ends at a cut point: known
    // from its last bytes, without hashing the chunk (its last one ends with the file instead).
    if (fits && room >= size && (c.expect === g.count - 1 || mayEndAt(k.data, at, size, k.masks))) {
      const h = hash('sha256', k.data.subarray(at, at + size), 'hex');
      if (h === g.hashes[c.expect]) {
        if (!check || k.cut(at, this.filled, final) === size) {
          c.accepted++;
          return h;
        }
        c.guided = false;
      } else c.missed = { size, hash: h };
    }
    c.expect = -1;
    return undefined;
  }
}
