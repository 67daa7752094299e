/**
 * Cuts an upload-link request body into chunks on the server (the visitor runs curl or a
 * browser, not a Ferry client), with the reference FastCDC cut rule, so the chunks are the
 * ones a Ferry client would have made of the same bytes and dedup with them.
 *
 * Same signature as `src/algo/chunk-stream.ts` (branch `algo`): switch to it once it is on
 * main; this one is the simple reference loop. Memory: one buffer of 2 × maxSize.
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

export async function* chunkStream(source: AsyncIterable<Uint8Array>, params: ChunkingParams, options: { signal?: AbortSignal } = {}): AsyncGenerator<StreamChunk> {
  const masks = cdcMasks(params);
  const buf = Buffer.allocUnsafe(2 * params.maxSize);
  let start = 0;
  let end = 0;
  function* cuts(final: boolean): Generator<StreamChunk> {
    for (;;) {
      const len = nextCut(buf, start, end, masks, final);
      if (len === 0) return;
      const data = Buffer.from(buf.subarray(start, start + len)); // a copy: buf is reused
      start += len;
      yield { hash: createHash('sha256').update(data).digest('hex'), size: len, data };
    }
  }
  for await (const piece of source) {
    throwIfAborted(options.signal);
    let p = 0;
    while (p < piece.length) {
      if (end === buf.length) {
        // Cutting stops with less than maxSize left, so moving it frees at least half.
        buf.copy(buf, 0, start, end);
        end -= start;
        start = 0;
      }
      const n = Math.min(piece.length - p, buf.length - end);
      buf.set(piece.subarray(p, p + n), end);
      end += n;
      p += n;
      if (end - start >= params.maxSize) yield* cuts(false);
    }
  }
  yield* cuts(true);
}
