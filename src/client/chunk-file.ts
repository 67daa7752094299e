/**
 * STAND-IN for `src/algo/chunk-file.ts` (being written on branch `algo`), with exactly its
 * signature, so the transfer engine can switch by changing one import. In-thread and
 * simple: reads the file in large blocks and cuts with the reference `nextCut`, so cut
 * points are identical to the real chunker's. `workers` is accepted and ignored.
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { cdcMasks, nextCut } from '../algo/fastcdc.js';
import { fromSystemError, throwIfAborted } from '../core/errors.js';
import type { ChunkingParams } from '../core/manifest.js';

export interface ChunkRecord {
  offset: number;
  size: number;
  hash: string;
}

export interface ChunkFileOptions {
  signal?: AbortSignal;
  workers?: number;
  /** Told how many bytes of the file were chunked since the last call. */
  onBytes?: (n: number) => void;
}

const BLOCK = 16 * 1024 * 1024;

/** Chunks a file, yielding batches of records in file order. */
export async function* chunkFile(path: string, params: ChunkingParams, options: ChunkFileOptions = {}): AsyncIterable<ChunkRecord[]> {
  const masks = cdcMasks(params);
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw fromSystemError(err, path);
  }
  try {
    const buf = Buffer.allocUnsafe(BLOCK + params.maxSize);
    let start = 0; // first unconsumed byte in buf
    let end = 0; // end of valid data in buf
    let fileOffset = 0; // file offset of buf[start]
    let eof = false;
    while (!eof || start < end) {
      throwIfAborted(options.signal);
      if (!eof) {
        // Move the tail (less than maxSize bytes) to the front and refill.
        if (start > 0) {
          buf.copy(buf, 0, start, end);
          end -= start;
          start = 0;
        }
        const { bytesRead } = await fh.read(buf, end, buf.length - end, null);
        if (bytesRead === 0) eof = true;
        end += bytesRead;
        if (bytesRead > 0) options.onBytes?.(bytesRead);
      }
      const batch: ChunkRecord[] = [];
      for (;;) {
        const len = nextCut(buf, start, end, masks, eof);
        if (len === 0) break;
        batch.push({ offset: fileOffset, size: len, hash: createHash('sha256').update(buf.subarray(start, start + len)).digest('hex') });
        start += len;
        fileOffset += len;
      }
      if (batch.length > 0) yield batch;
    }
  } catch (err) {
    throw fromSystemError(err, path);
  } finally {
    await fh.close();
  }
}
