/**
 * Positional writes in slices of at most {@link WRITE_SLICE_BYTES}: the client's downloads
 * (../client/get.ts) and the server's local backend (../backends/local/local-backend.ts).
 */
import type { FileHandle } from 'node:fs/promises';

/**
 * Most bytes one write system call puts in the page cache.
 *
 * Why: Linux (6.x, ext4 with large folios) sizes the page-cache folios of a buffered write by
 * the write's length (the largest power of two in it), so one `pwrite` of a whole chunk (up
 * to 4 MiB) fills folios of 1-2 MiB, which only the free lists' largest blocks can give. In a
 * VM whose balloon reports free memory to the host (Firecracker here; QEMU's
 * free-page-reporting), those are the blocks handed back, and the first touch of each page
 * costs a fault in the host, charged as system time: `dd` of 1 GiB into a cold page cache
 * took 1.0-3.1 s of system time in writes of 1-4 MiB against 0.16-0.23 s in writes of
 * 1020 KiB, 512 KiB or less, and `ferry get` of 1 GiB after a quiet spell 1.9-3.0 s (1.1-1.6
 * s of system time) in whole chunks against 1.1-1.5 s in slices of 512 KiB. Just under
 * 1 MiB (less 64 KiB, the largest common page size) keeps the folios at 512 KiB or less
 * with the fewest writes: a chunk of the average 1 MiB in one or two. Slices of 256 KiB cost
 * 0.3 s more per GiB with warm memory (small folios, twice the calls).
 * benchmarks/results/issue-15-speed.md, "Cold pages" and "Cold pages on the upload".
 */
export const WRITE_SLICE_BYTES = 1024 * 1024 - 64 * 1024;

/** Writes all of `data` at `offset`, in writes of at most {@link WRITE_SLICE_BYTES}. */
export async function writeAt(fh: FileHandle, data: Uint8Array, offset: number): Promise<void> {
  let n = 0;
  while (n < data.length) {
    const { bytesWritten } = await fh.write(data, n, Math.min(data.length - n, WRITE_SLICE_BYTES), offset + n);
    n += bytesWritten;
  }
}

/**
 * Writes `pieces`, back to back, at `offset`: one `pwritev(2)` per {@link WRITE_SLICE_BYTES}
 * of them (pieces split at the slices' edges), more only after a short write.
 */
export async function writevAt(fh: FileHandle, pieces: readonly Buffer[], offset: number): Promise<void> {
  let at = offset;
  let i = 0; // the piece the next slice starts in
  let from = 0; // and where in it
  while (i < pieces.length) {
    const slice: Buffer[] = [];
    let size = 0;
    while (i < pieces.length && size < WRITE_SLICE_BYTES) {
      const take = Math.min(pieces[i].length - from, WRITE_SLICE_BYTES - size);
      slice.push(from === 0 && take === pieces[i].length ? pieces[i] : pieces[i].subarray(from, from + take));
      size += take;
      from += take;
      if (from === pieces[i].length) [i, from] = [i + 1, 0];
    }
    const n = (await fh.writev(slice, at)).bytesWritten;
    at += n;
    // A short write: the next slice starts where this one stopped.
    for (let short = size - n; short > 0; ) {
      if (from === 0) [i, from] = [i - 1, pieces[i - 1].length];
      const back = Math.min(short, from);
      from -= back;
      short -= back;
    }
  }
}
