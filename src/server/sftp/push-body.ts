/**
 * A body for ingest() that the SFTP front pushes bytes into as WRITE requests arrive: an
 * async iterable with a bounded queue. `push` waits while the queue holds more than its
 * limit (the chunker and the chunk store are behind: the request waits, the session stops
 * reading, the client's SSH window closes), and fails once the consumer has failed. A
 * piece's `done` is called once the consumer asks for the next one (it has copied it by
 * then), or when the body ends or fails.
 */
export class PushBody implements AsyncIterable<Buffer> {
  private readonly queue: { buf: Buffer; done?: () => void }[] = [];
  private queued = 0;
  private ended = false;
  private error: unknown;
  private wakeConsumer?: () => void;
  private wakeProducer?: () => void;

  constructor(private readonly limit: number) {}

  /** Queues `buf` (kept by reference: it must not change until `done`). */
  async push(buf: Buffer, done?: () => void): Promise<void> {
    if (this.error !== undefined || this.ended || buf.length === 0) done?.();
    if (this.error !== undefined) throw this.error;
    if (this.ended) throw new Error('push after end');
    if (buf.length === 0) return;
    this.queue.push({ buf, done });
    this.queued += buf.length;
    this.wake('consumer');
    while (this.queued > this.limit && this.error === undefined) await new Promise<void>((resolve) => (this.wakeProducer = resolve));
    if (this.error !== undefined) throw this.error;
  }

  /** No more bytes: the consumer sees the end once the queue is empty. */
  end(): void {
    this.ended = true;
    this.wake('consumer');
  }

  /** The consumer failed (or gave up): pushes from now on throw `err`. */
  fail(err: unknown): void {
    this.error = err ?? new Error('the upload failed');
    for (const q of this.queue.splice(0)) q.done?.();
    this.queued = 0;
    this.wake('consumer');
    this.wake('producer');
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    let current: (() => void) | undefined;
    try {
      for (;;) {
        if (this.queue.length > 0) {
          const { buf, done } = this.queue.shift()!;
          this.queued -= buf.length;
          if (this.queued <= this.limit) this.wake('producer');
          current = done;
          yield buf;
          current?.();
          current = undefined;
          continue;
        }
        if (this.error !== undefined) throw this.error;
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wakeConsumer = resolve));
      }
    } finally {
      current?.();
    }
  }

  private wake(which: 'consumer' | 'producer'): void {
    const f = which === 'consumer' ? this.wakeConsumer : this.wakeProducer;
    if (which === 'consumer') this.wakeConsumer = undefined;
    else this.wakeProducer = undefined;
    f?.();
  }
}
