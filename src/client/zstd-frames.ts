/**
 * Where zstd frames end in a stream of them, found as the bytes arrive (RFC 8878 §3.1.1):
 * a ranged download in zstd (docs/protocol.md, "Compression and deltas") is one frame per
 * chunk back to back, and each frame is decompressed and verified as soon as it is whole.
 *
 * Only the headers are read: the frame header (magic, descriptor, window, dictionary id,
 * content size), each block's 3-byte header (its type and size say how many bytes follow),
 * and the 4-byte checksum when the descriptor announces one. Nothing is decompressed here and
 * no byte is copied but those of the headers. Pure TypeScript: the browser build shares it.
 */
import { ProtocolError } from '../core/errors.js';

const MAGIC = 0xfd2fb528;
/** RFC 8878 §3.1.1.2: a block is at most 128 KiB. */
const MAX_BLOCK = 128 * 1024;

type State =
  /** Collecting the magic number and the frame header descriptor (5 bytes). */
  | 'start'
  /** Collecting the rest of the frame header (its length known from the descriptor). */
  | 'header'
  | 'block-header'
  /** Skipping a block's content. */
  | 'block'
  | 'checksum';

export class ZstdFrameScanner {
  private state: State = 'start';
  private readonly head = new Uint8Array(18);
  private have = 0;
  private need = 5;
  /** Bytes to skip in 'block' and 'checksum'. */
  private skip = 0;
  private last = false;
  private checksum = false;

  /** Whether the bytes fed so far end exactly at a frame's end (or nothing was fed). */
  get atBoundary(): boolean {
    return this.state === 'start' && this.have === 0;
  }

  /**
   * Reads `piece` on from `from`; returns the index just past the end of the frame that ends
   * in it (the next frame starts there), or -1 when the piece ends inside a frame.
   * Throws FERRY_ERR_PROTOCOL for bytes that are not a zstd frame.
   */
  next(piece: Uint8Array, from = 0): number {
    let p = from;
    while (p < piece.length) {
      if (this.state === 'block' || this.state === 'checksum') {
        const n = Math.min(this.skip, piece.length - p);
        this.skip -= n;
        p += n;
        if (this.skip > 0) return -1;
        const end = this.skipped(p);
        if (end >= 0) return end;
        continue;
      }
      const n = Math.min(this.need - this.have, piece.length - p);
      this.head.set(piece.subarray(p, p + n), this.have);
      this.have += n;
      p += n;
      if (this.have < this.need) return -1;
      const end = this.parsed(p);
      if (end >= 0) return end;
    }
    return -1;
  }

  private expect(state: State, bytes: number): void {
    this.state = state;
    this.have = 0;
    this.need = bytes;
  }

  private frameDone(p: number): number {
    this.expect('start', 5);
    return p;
  }

  /** A header is whole: moves on; returns the frame's end when an empty last block ends it here. */
  private parsed(p: number): number {
    const h = this.head;
    if (this.state === 'start') {
      if ((h[0] | (h[1] << 8) | (h[2] << 16) | (h[3] << 24)) >>> 0 !== MAGIC) throw new ProtocolError('the zstd answer holds something that is not a zstd frame');
      const fhd = h[4];
      if (fhd & 0x08) throw new ProtocolError('a zstd frame header with its reserved bit set');
      const fcsFlag = fhd >> 6;
      const single = (fhd >> 5) & 1;
      this.checksum = ((fhd >> 2) & 1) === 1;
      const dictBytes = [0, 1, 2, 4][fhd & 3];
      const fcsBytes = [single, 2, 4, 8][fcsFlag];
      const rest = (single ? 0 : 1) + dictBytes + fcsBytes;
      if (rest === 0) this.expect('block-header', 3);
      else {
        this.state = 'header';
        this.need = 5 + rest;
      }
      return -1;
    }
    if (this.state === 'header') {
      this.expect('block-header', 3);
      return -1;
    }
    // A block header: last flag, type, size.
    const v = h[0] | (h[1] << 8) | (h[2] << 16);
    this.last = (v & 1) === 1;
    const type = (v >> 1) & 3;
    const size = v >>> 3;
    if (type === 3) throw new ProtocolError('a zstd block of the reserved type');
    if (size > MAX_BLOCK) throw new ProtocolError(`a zstd block of ${size} bytes, more than zstd allows`);
    this.state = 'block';
    this.skip = type === 1 ? 1 : size; // RLE: one byte repeated `size` times
    return this.skip === 0 ? this.skipped(p) : -1;
  }

  /** A block's content (or the checksum) was skipped: the next block, the checksum, or the frame's end. */
  private skipped(p: number): number {
    if (this.state === 'checksum') return this.frameDone(p);
    if (!this.last) {
      this.expect('block-header', 3);
      return -1;
    }
    if (this.checksum) {
      this.state = 'checksum';
      this.skip = 4;
      return -1;
    }
    return this.frameDone(p);
  }
}
