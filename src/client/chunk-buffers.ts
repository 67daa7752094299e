/**
 * Chunk buffers reused across the chunks of a download: a 1 GiB file is some 800 chunks,
 * and a fresh buffer for each costs page faults (the kernel zeroes every new page) and
 * garbage collection, for memory that is needed only until the chunk is on disk.
 *
 * The buffers are backed by SharedArrayBuffers, so the hash workers read them in place
 * (see ../algo/sha256-workers.ts): neither copied nor transferred.
 */
export class ChunkBuffers {
  private readonly free: Buffer[] = [];

  /**
   * @param maxFree buffers kept for reuse at most; more in use at once are allocated and dropped after use
   * @param capacity size of new buffers (the largest chunk expected), unless a larger one is asked for
   */
  constructor(
    private readonly maxFree: number,
    private readonly capacity: number,
  ) {}

  /** A buffer of at least `size` bytes, owned by the caller until {@link release}. */
  acquire(size: number): Buffer {
    for (let i = this.free.length - 1; i >= 0; i--) {
      if (this.free[i].length >= size) return this.free.splice(i, 1)[0];
    }
    return Buffer.from(new SharedArrayBuffer(Math.max(size, this.capacity)));
  }

  /** Gives a buffer back; its bytes may be overwritten from now on. */
  release(buf: Buffer): void {
    if (this.free.length < this.maxFree) this.free.push(buf);
    else {
      // keep the larger ones: a small buffer cannot serve a large chunk
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i].length < this.free[smallest].length) smallest = i;
      if (this.free.length > 0 && this.free[smallest].length < buf.length) this.free[smallest] = buf;
    }
  }
}
