/**
 * Chunk PUT bodies read whole into one buffer of the size Content-Length announces.
 *
 * A chunk body arrives in socket reads of 16-64 KiB. Streamed through a hashing Transform
 * into the backend's write, every piece went through two streams and a MiB of staging per
 * chunk, all garbage (the profile of a 1 GiB upload: 0.76 s of the server's CPU in the
 * collector). Copied as it arrives into one buffer, the chunk is then hashed in one call
 * and written in one write(2). The buffers are reused (./../store/chunk-buffers.ts says why
 * fresh ones cost more than the copy) and bounded: when all are in use (hundreds of
 * clients sending at once) the body streams as before, so memory stays bounded by
 * `BODY_BUFFERS` chunks, not by the number of connections.
 */
import type { Readable } from 'node:stream';
import { AbortedError, SizeMismatchError } from '../core/errors.js';
import { ChunkBuffers } from '../store/chunk-buffers.js';

/** Chunk bodies held whole at once at most; beyond that they stream. */
const BODY_BUFFERS = 16;

const pool = new ChunkBuffers(BODY_BUFFERS);

/** A chunk body read whole; `release()` gives its buffer back once nothing reads `data` any more. */
export interface WholeBody {
  data: Buffer;
  release(): void;
}

/**
 * Reads a body of exactly `length` bytes into a pooled buffer; undefined when none is free
 * (the caller streams the body instead). More or fewer bytes than `length` reject with
 * FERRY_ERR_SIZE_MISMATCH; a body cut short, FERRY_ERR_ABORTED. The rest of a refused body
 * is read and dropped, not destroyed: the HTTP layer still answers the request.
 */
export function readWholeBody(body: Readable, length: number): Promise<WholeBody> | undefined {
  const buf = pool.acquire(length);
  if (buf === undefined) return undefined;
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    pool.release(buf);
  };
  return new Promise<WholeBody>((resolve, reject) => {
    let n = 0;
    let failed = false;
    const fail = (err: Error): void => {
      if (failed) return;
      failed = true;
      release();
      reject(err);
    };
    body.on('data', (piece: Buffer) => {
      if (failed) return;
      if (n + piece.length > length) {
        fail(new SizeMismatchError(`the body holds more than the announced ${length} bytes`));
        return;
      }
      piece.copy(buf, n);
      n += piece.length;
    });
    body.once('end', () => {
      if (failed) return;
      if (n !== length) {
        fail(new SizeMismatchError(`${n} bytes arrived, ${length} announced`));
        return;
      }
      resolve({ data: buf.subarray(0, length), release });
    });
    body.once('error', (err) => fail(err));
    body.once('close', () => {
      if (!body.readableEnded) fail(new AbortedError('the body ended before it was complete'));
    });
  });
}
