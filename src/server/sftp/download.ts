/**
 * A file opened for reading over SFTP: READ requests at any offsets, answered from the
 * file's chunks as of the OPEN (a file replaced meanwhile is read whole in its old version,
 * never a mix of both). Every chunk is verified against its hash before a byte of it goes
 * out (ChunkStore.lend).
 *
 * Clients read in order with many requests in flight (OpenSSH: 64 of 255 KiB; sshfs and
 * `reget` seek): chunks are kept while reads go on in them and the next ones are read
 * ahead once reads run forward, so the disk, the hashing workers and the socket overlap.
 * Memory: at most READ_AHEAD + KEEP chunks per open file.
 */
import type { ChunkRef } from '../../core/manifest.js';
import { chunkOffsets } from '../../core/manifest.js';
import type { ChunkStore, LentChunk } from '../../store/chunk-store.js';

/** Chunks read ahead of the one being read, once reads go forward. */
const READ_AHEAD = 3;
/** Chunks kept behind (reads that come back a little: several requests in flight, out of order). */
const KEEP = 2;

export class ChunkReader {
  private readonly offsets: number[];
  private readonly loaded = new Map<number, Promise<LentChunk>>();
  /** Where the last read ended: a read starting there is sequential. */
  private lastEnd = -1;
  private closed = false;
  /** Bytes handed out (for the transfer log). */
  bytesRead = 0;

  constructor(
    private readonly store: ChunkStore,
    private readonly chunks: readonly ChunkRef[],
    readonly size: number,
  ) {
    this.offsets = chunkOffsets(chunks);
  }

  /**
   * The bytes of [offset, offset + length) (fewer only where the file ends), in one piece per
   * chunk they span; null at or past the end. The views are valid until the next call.
   */
  async read(offset: number, length: number): Promise<Buffer[] | null> {
    if (offset >= this.size || length <= 0) return null;
    const end = Math.min(this.size, offset + length);
    const first = this.chunkAt(offset);
    const sequential = offset === this.lastEnd;
    this.evict(first);
    const out: Buffer[] = [];
    for (let i = first, pos = offset; pos < end; i++) {
      const chunk = await this.load(i);
      const from = pos - this.offsets[i];
      const to = Math.min(chunk.data.length, end - this.offsets[i]);
      out.push(chunk.data.subarray(from, to));
      pos = this.offsets[i] + to;
    }
    const last = this.chunkAt(end - 1);
    if (sequential || offset === 0) for (let k = 1; k <= READ_AHEAD && last + k < this.chunks.length; k++) void this.load(last + k).catch(() => undefined);
    this.lastEnd = end;
    this.bytesRead += end - offset;
    return out;
  }

  /** Gives every buffer back. */
  close(): void {
    this.closed = true;
    for (const p of this.loaded.values()) p.then((c) => c.release(), () => undefined);
    this.loaded.clear();
  }

  private load(i: number): Promise<LentChunk> {
    let p = this.loaded.get(i);
    if (!p) {
      p = this.store.lend(this.chunks[i].hash);
      p.catch(() => this.loaded.delete(i));
      this.loaded.set(i, p);
      if (this.closed) p.then((c) => c.release(), () => undefined);
    }
    return p;
  }

  /** Drops loaded chunks too far behind `i` or beyond the read-ahead (a seek elsewhere). */
  private evict(i: number): void {
    for (const [k, p] of this.loaded) {
      if (k < i - KEEP || k > i + READ_AHEAD + 1) {
        this.loaded.delete(k);
        p.then((c) => c.release(), () => undefined);
      }
    }
  }

  private chunkAt(pos: number): number {
    let lo = 0;
    let hi = this.offsets.length - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.offsets[mid] <= pos) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
