/**
 * Pipelined SFTP transfers: the hot path of the sftp backend.
 *
 * An SFTP READ or WRITE request carries at most one packet's worth of data (OpenSSH: about
 * 255 KiB), and waiting for each answer before sending the next request leaves the link idle
 * for a round trip per request: ssh2's plain streams run at ~30 MB/s here that way. Keeping
 * `window` requests outstanding at once (as OpenSSH's `sftp` and ssh2's fastGet/fastPut do)
 * fills the pipe: several hundred MB/s on loopback. Answers may come back in any order;
 * reads are handed on in file order, and at most `window × requestSize` bytes are in flight.
 */
import { Readable } from 'node:stream';
import type { SFTPWrapper } from 'ssh2';
import { IoError } from '../../core/errors.js';

export interface PipelineOptions {
  /** Bytes per READ/WRITE request (at most what the server accepts in one packet). */
  requestSize: number;
  /** Requests outstanding at once. */
  window: number;
}

interface PendingRead {
  position: number;
  length: number;
  done: boolean;
  data?: Buffer;
  error?: Error;
}

/**
 * A Readable over `[start, end)` of an open handle, with up to `window` READs in flight. New
 * requests are issued only while the stream wants data (backpressure), so a slow consumer
 * holds at most `window` requests' worth of bytes. The handle is closed when the stream ends
 * or is destroyed.
 */
export class PipelinedReadStream extends Readable {
  readonly #queue: PendingRead[] = [];
  #next: number;
  #wanting = false;
  #closed = false;

  constructor(
    private readonly sftp: SFTPWrapper,
    private readonly handle: Buffer,
    start: number,
    private readonly end: number,
    private readonly options: PipelineOptions,
    private readonly translate: (err: unknown) => Error,
  ) {
    super({ highWaterMark: options.requestSize * 2 });
    this.#next = start;
  }

  override _read(): void {
    this.#wanting = true;
    this.#fill();
    this.#flush();
  }

  #fill(): void {
    while (this.#wanting && this.#queue.length < this.options.window && this.#next < this.end) {
      const length = Math.min(this.options.requestSize, this.end - this.#next);
      this.#request(this.#next, length, this.#queue.length);
      this.#next += length;
    }
  }

  /** Issues a READ and records it at `index` of the queue (the tail, or the head for a remainder). */
  #request(position: number, length: number, index: number): void {
    const pending: PendingRead = { position, length, done: false };
    this.#queue.splice(index, 0, pending);
    const buffer = Buffer.allocUnsafe(length);
    this.sftp.read(this.handle, buffer, 0, length, position, (err, bytesRead) => {
      pending.done = true;
      if (err) pending.error = err;
      else pending.data = buffer.subarray(0, bytesRead);
      if (!this.destroyed) this.#flush();
    });
  }

  /** Hands on completed reads in file order; re-requests the rest of a short read. */
  #flush(): void {
    while (this.#queue.length > 0 && this.#queue[0].done && !this.destroyed) {
      const head = this.#queue.shift()!;
      if (head.error) {
        this.destroy(this.translate(head.error));
        return;
      }
      const data = head.data!;
      if (data.length === 0) {
        this.destroy(new IoError(`the file ended ${this.end - head.position} bytes early: it changed while being read`, { retryable: true }));
        return;
      }
      if (data.length < head.length) this.#request(head.position + data.length, head.length - data.length, 0);
      if (!this.push(data)) this.#wanting = false;
    }
    if (this.#queue.length === 0 && this.#next >= this.end && !this.destroyed) {
      this.push(null);
      return;
    }
    this.#fill();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.#closeHandle(() => callback(error));
  }

  #closeHandle(then: () => void): void {
    if (this.#closed) return then();
    this.#closed = true;
    this.sftp.close(this.handle, () => then());
  }
}

/**
 * Writes the chunks of `source` at increasing offsets of `handle` with up to `window` WRITEs
 * in flight; resolves with the byte count once every write was acknowledged. A chunk is
 * copied before it is sent (the producer may reuse its buffer). On failure, waits for the
 * writes in flight to settle, then rethrows.
 */
export async function pipelinedWrite(
  sftp: SFTPWrapper,
  handle: Buffer,
  source: AsyncIterable<Uint8Array>,
  options: PipelineOptions,
  translate: (err: unknown) => Error,
): Promise<number> {
  let position = 0;
  let inFlight = 0;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const send = (piece: Buffer, at: number): void => {
    inFlight++;
    sftp.write(handle, piece, 0, piece.length, at, (err) => {
      inFlight--;
      if (err && failure === undefined) failure = translate(err);
      settled();
    });
  };
  const waitBelow = async (limit: number): Promise<void> => {
    while (inFlight > limit) await new Promise<void>((resolve) => (wake = resolve));
  };
  try {
    for await (const chunk of source) {
      const copy = Buffer.from(chunk);
      for (let at = 0; at < copy.length; at += options.requestSize) {
        if (failure) throw failure;
        await waitBelow(options.window - 1);
        if (failure) throw failure;
        const piece = copy.subarray(at, Math.min(copy.length, at + options.requestSize));
        send(piece, position);
        position += piece.length;
      }
    }
    await waitBelow(0);
    if (failure) throw failure;
    return position;
  } finally {
    await waitBelow(0);
  }
}
