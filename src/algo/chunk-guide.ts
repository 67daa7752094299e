/**
 * The chunk list of a file's previous version (the copy the server holds), as a guide for
 * chunking the new version: where the guide says a chunk starts, its bytes are hashed and
 * compared first, and only where they differ does the content-defined chunker scan them.
 *
 * Why this gives exactly the records of unguided chunking: a FastCDC cut depends only on
 * where its chunk starts and on the chunk's own bytes (the gear hash looks back, never
 * ahead), except for a file's last chunk, which the end of the file cuts. So when a guide
 * chunk was cut with the same parameters and its SHA-256 matches the bytes at a local cut,
 * the chunker would have cut the same chunk there. The guide's last chunk counts only
 * where the local file ends with it too. A guide cut with other parameters (the server's
 * changed since) would not give the same cuts; chunkers catch that by checking the first
 * accepted chunks against real cuts ({@link guideCheckDue}), and chunkFile drops a guide
 * whose sizes these parameters could not have cut.
 *
 * Where bytes differ, the chunker cuts them; as soon as one of its chunks is a chunk of the
 * guide (by hash), the guide's next chunk is expected right after it: an edit costs the
 * chunks it touches, also when it moved everything after it.
 *
 * Imports nothing of the project: the worker threads get it as plain arrays.
 */

/**
 * Whether a chunking checks its `n`th accepted guide chunk (from 0) against a real cut: the
 * first four, then one in 64 (a check scans the chunk as cutting would). A guide cut with
 * other parameters of the same sizes (another average or normalization) passes one check
 * by chance at times (a quarter of the time, measured for normalization 2 against 0), four
 * in a row seldom; one that slips through gives records that are still right (each hash is
 * of its bytes, the chunks cover the file), only not those plain chunking gives.
 */
export function guideCheckDue(n: number): boolean {
  return n < 4 || n % 64 === 0;
}

export class ChunkGuide {
  private byHash: Map<string, number> | undefined;
  private offsets: Float64Array | undefined;

  /**
   * @param sizes chunk sizes of the previous version, in file order
   * @param hashes their SHA-256, 64 lowercase hex digits
   */
  constructor(
    readonly sizes: readonly number[],
    readonly hashes: readonly string[],
  ) {
    if (sizes.length !== hashes.length) throw new RangeError(`chunk guide: ${sizes.length} sizes for ${hashes.length} hashes`);
  }

  get count(): number {
    return this.sizes.length;
  }

  /** Index of the first chunk with this hash, or -1. */
  find(hash: string): number {
    if (!this.byHash) {
      this.byHash = new Map();
      for (let i = this.hashes.length - 1; i >= 0; i--) this.byHash.set(this.hashes[i], i);
    }
    return this.byHash.get(hash) ?? -1;
  }

  /** File offset where chunk `i` starts in the previous version. */
  offsetOf(i: number): number {
    if (!this.offsets) {
      this.offsets = new Float64Array(this.sizes.length + 1);
      for (let j = 0; j < this.sizes.length; j++) this.offsets[j + 1] = this.offsets[j] + this.sizes[j];
    }
    return this.offsets[i];
  }

  /** Index of the last chunk that starts at or before `offset` (0 when there is none). */
  chunkAt(offset: number): number {
    let lo = 0;
    let hi = this.sizes.length - 1;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (this.offsetOf(m) <= offset) lo = m;
      else hi = m - 1;
    }
    return lo;
  }

  /** Index of the chunk that starts exactly at `offset`, or -1. */
  startingAt(offset: number): number {
    if (this.sizes.length === 0) return -1;
    const i = this.chunkAt(offset);
    return this.offsetOf(i) === offset ? i : -1;
  }
}
