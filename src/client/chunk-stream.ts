/**
 * STAND-IN for `src/algo/chunk-stream.ts` (being written on branch `algo`), same signature.
 * Cuts a byte stream of unknown length with the reference `nextCut` and yields each chunk
 * with its own copy of the data. Memory: one buffer of about 2 * maxSize.
 */
import { createHash } from 'node:crypto';
import { cdcMasks, nextCut } from '../algo/fastcdc.js';
import { throwIfAborted } from '../core/errors.js';
import type { ChunkingParams } from '../core/manifest.js';

export interface StreamChunk {
  hash: string;
  size: number;
  data: Buffer;
}

export async function* chunkStream(source: AsyncIterable<Uint8Array>, params: ChunkingParams, options: { signal?: AbortSignal } = {}): AsyncIterable<StreamChunk> {
  const masks = cdcMasks(params);
  let buf = Buffer.allocUnsafe(2 * params.maxSize);
  let start = 0;
  let end = 0;
  const emit = function* (final: boolean): Generator<StreamChunk> {
    for (;;) {
      const len = nextCut(buf, start, end, masks, final);
      if (len === 0) return;
      const data = Buffer.from(buf.subarray(start, start + len)); // a copy: buf is reused
      start += len;
      yield { hash: createHash('sha256').update(data).digest('hex'), size: len, data };
    }
  };
  for await (const piece of source) {
    throwIfAborted(options.signal);
    let p = 0;
    while (p < piece.length) {
      if (end === buf.length) {
        // compact: the unconsumed tail is below maxSize, so half the buffer is always free
        buf.copy(buf, 0, start, end);
        end -= start;
        start = 0;
        if (end === buf.length) buf = Buffer.concat([buf, Buffer.allocUnsafe(buf.length)]);
      }
      const n = Math.min(piece.length - p, buf.length - end);
      buf.set(piece.subarray(p, p + n), end);
      end += n;
      p += n;
      if (end - start >= params.maxSize) yield* emit(false);
    }
  }
  yield* emit(true);
}
