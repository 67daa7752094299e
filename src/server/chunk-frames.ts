/**
 * Reads the body of `POST /api/v1/uploads/:id/chunk-frames` (docs/protocol.md, "Uploads";
 * ../core/protocol.ts, CHUNK_FRAME_HEADER_BYTES): frames of whole chunks, one after the
 * other, each `32-byte hash | u32 BE size | u32 BE length | length bytes`.
 *
 * Frames are handed out one at a time, as the request's stream delivers them, so the server
 * holds no more of the body than one chunk PUT would (the caller reads each frame's bytes
 * within the body memory budget before it asks for the next header). The stream is never
 * destroyed: after a refused frame the rest of the body is read and dropped, so that the
 * HTTP layer still answers the request.
 */
import { Readable } from 'node:stream';
import { AbortedError, PayloadTooLargeError, SizeMismatchError } from '../core/errors.js';
import { CHUNK_FRAME_HEADER_BYTES } from '../core/protocol.js';

/** One frame's header: the chunk, its size, and the bytes that carry it (`length < size`: one zstd frame). */
export interface ChunkFrame {
  hash: string;
  size: number;
  length: number;
}

const EMPTY = Buffer.alloc(0);

export class ChunkFrameReader {
  private readonly pieces: AsyncIterator<Buffer>;
  /** Bytes read from the body and not handed out yet. */
  private rest: Buffer = EMPTY;
  private total = 0;

  /** `maxBytes`: more body than this is 413 FERRY_ERR_PAYLOAD_TOO_LARGE, whatever its Content-Length said. */
  constructor(
    private readonly body: Readable,
    private readonly maxBytes: number,
  ) {
    this.pieces = body.iterator({ destroyOnReturn: false });
  }

  /** The next frame's header, or undefined at the end of the body (the last frame's bytes must have been read). */
  async next(): Promise<ChunkFrame | undefined> {
    if (this.rest.length === 0) {
      const piece = await this.piece();
      if (piece === undefined) return undefined;
      this.rest = piece;
    }
    const head = Buffer.alloc(CHUNK_FRAME_HEADER_BYTES);
    await this.readInto(head, CHUNK_FRAME_HEADER_BYTES);
    return { hash: head.toString('hex', 0, 32), size: head.readUInt32BE(32), length: head.readUInt32BE(36) };
  }

  /** Copies the next `length` bytes of the body into the start of `buf`; the body ending first is FERRY_ERR_SIZE_MISMATCH. */
  async readInto(buf: Buffer, length: number): Promise<Buffer> {
    let n = 0;
    for await (const slice of this.slices(length)) {
      slice.copy(buf, n);
      n += slice.length;
    }
    return buf.subarray(0, length);
  }

  /** The next `length` bytes as a stream, read from the body as it is consumed (wholly, before {@link next}). */
  bytes(length: number): Readable {
    return Readable.from(this.slices(length), { objectMode: false });
  }

  /** Stops reading frames: the rest of the body is read and dropped. */
  async discard(): Promise<void> {
    await this.pieces.return?.().catch(() => undefined);
    this.body.resume();
  }

  private async *slices(length: number): AsyncGenerator<Buffer> {
    let left = length;
    while (left > 0) {
      if (this.rest.length === 0) {
        const piece = await this.piece();
        if (piece === undefined) throw new SizeMismatchError('the body ends in the middle of a frame');
        this.rest = piece;
      }
      const n = Math.min(left, this.rest.length);
      const slice = this.rest.subarray(0, n);
      this.rest = this.rest.subarray(n);
      left -= n;
      yield slice;
    }
  }

  private async piece(): Promise<Buffer | undefined> {
    const r = await this.pieces.next();
    if (r.done) {
      if (!this.body.readableEnded) throw new AbortedError('the body ended before it was complete');
      return undefined;
    }
    this.total += r.value.length;
    if (this.total > this.maxBytes) throw new PayloadTooLargeError(`a body of chunk frames may be at most ${this.maxBytes} bytes`);
    return r.value;
  }
}
