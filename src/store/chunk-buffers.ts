/**
 * Chunk buffers reused across the chunks of a download, on both ends: a 1 GiB file is some
 * 800 chunks, and a fresh buffer for each costs page faults (the kernel zeroes every new
 * page) and garbage collection. Worse, a buffer that lives a few milliseconds (read ahead,
 * then written to a socket) often outlives two young-generation collections, and the old
 * generation it then lands in is only freed by full collections, which the external memory
 * of a GiB of such buffers triggers by the dozen: measured at 0.3 to 0.9 s of a server's
 * 1 GiB download, against 0.05 s with reused buffers.
 *
 * The buffers are backed by SharedArrayBuffers, so that hash workers read them in place
 * (see ../algo/sha256-workers.ts): neither copied nor transferred. Pages of a buffer that
 * are never written are never resident, so a buffer of the largest chunk size costs only
 * what the chunks read into it use.
 */
export class ChunkBuffers {
  private readonly free: Buffer[] = [];
  private idleTimer?: NodeJS.Timeout;

  /**
   * @param maxFree buffers kept for reuse at most; more in use at once are allocated and dropped after use
   * @param capacity size of new buffers (the largest chunk expected), unless a larger one is asked for
   * @param idleMs when set, the kept buffers are dropped after this long without a release (a server between downloads)
   */
  constructor(
    private readonly maxFree: number,
    private readonly capacity: number,
    private readonly idleMs?: number,
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
    if (this.idleMs === undefined) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else this.idleTimer = setTimeout(() => (this.free.length = 0), this.idleMs).unref();
  }

  /** Buffers kept for reuse right now (for tests). */
  get freeCount(): number {
    return this.free.length;
  }
}
