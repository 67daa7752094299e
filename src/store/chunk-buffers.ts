/**
 * Read buffers the chunk store reuses for the chunks it serves (see ChunkStore.lend).
 *
 * A fresh buffer per chunk costs page faults (the kernel zeroes every new page) and, worse,
 * garbage collection: a buffer that lives a few milliseconds (read ahead, then written to a
 * socket) often outlives two young-generation collections, and the old generation it then
 * lands in is only freed by full collections, which a GiB of such buffers triggers by the
 * dozen. Measured on a 1 GiB download: 0.8 s of server CPU in the collector, 0.04 s with
 * reused buffers.
 *
 * The buffers are SharedArrayBuffers, so that the hash workers read them in place (see
 * ../algo/sha256-workers.ts). V8 does not count shared memory towards starting a
 * collection: a dropped SharedArrayBuffer stays allocated until a collection happens for
 * other reasons, so a pool that allocated and dropped buffers freely would grow the
 * process by hundreds of MiB per download. This pool therefore owns a fixed set: at most
 * `maxBuffers`, kept while the server is busy (a free buffer is dropped only to make room
 * for a larger one, or by {@link dropFree} once the server idles, before a full collection),
 * and when all are in use the caller reads into a buffer of its own.
 * Capacities are rounded up to 1 MiB and a request takes the smallest free buffer that
 * fits, so the memory kept is about what the chunks being served at the busiest moment use.
 * A buffer lent and never given back (a write whose callback never came) is counted out
 * again once it is collected.
 */
const ROUND_BYTES = 1024 * 1024;

export class ChunkBuffers {
  private readonly free: Buffer[] = [];
  private count = 0;
  private readonly lost = new FinalizationRegistry<undefined>(() => this.count--);

  /** @param maxBuffers buffers allocated at most, in use or free */
  constructor(private readonly maxBuffers: number) {}

  /** A buffer of at least `size` bytes, owned by the caller until {@link release}; undefined when all are in use. */
  acquire(size: number): Buffer | undefined {
    let best = -1;
    for (let i = 0; i < this.free.length; i++) {
      if (this.free[i].length >= size && (best < 0 || this.free[i].length < this.free[best].length)) best = i;
    }
    if (best >= 0) return this.lend(this.free.splice(best, 1)[0]);
    if (this.count >= this.maxBuffers) {
      if (this.free.length === 0) return undefined;
      // All allocated, none large enough: the smallest free one makes room for a larger one.
      let smallest = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i].length < this.free[smallest].length) smallest = i;
      this.free.splice(smallest, 1);
      this.count--;
    }
    this.count++;
    return this.lend(Buffer.from(new SharedArrayBuffer(Math.ceil(size / ROUND_BYTES) * ROUND_BYTES || ROUND_BYTES)));
  }

  /** Gives a buffer from {@link acquire} back; its bytes may be overwritten from now on. */
  release(buf: Buffer): void {
    this.lost.unregister(buf);
    this.free.push(buf);
  }

  private lend(buf: Buffer): Buffer {
    this.lost.register(buf, undefined, buf);
    return buf;
  }

  /**
   * Lets go of the free buffers (returns how many), for the collection that follows to free them (the server's
   * idle settle: src/cli/commands/serve.ts, settleAround); buffers lent out stay counted until
   * given back. Kept, the 24 read buffers of a 1 GiB download (up to ~100 MB) stayed for the
   * process's life, and the bench's 200 uploads of workload 6 began on top of them
   * (benchmarks/results/issue-15-speed.md, branch w6full).
   */
  dropFree(): number {
    const dropped = this.free.length;
    this.count -= dropped;
    this.free.length = 0;
    return dropped;
  }

  /** Buffers allocated (in use or free), for tests. */
  get allocated(): number {
    return this.count;
  }
}
