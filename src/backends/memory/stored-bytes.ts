/**
 * An object's bytes in the memory backend: the pieces they arrived in, never joined into one
 * Buffer. Joining held a large body twice while `Buffer.concat` copied it (a 2 GiB write
 * through `memory:` peaked at 4.1 GB of RSS), and a body past `buffer.constants.MAX_LENGTH`
 * (4 GiB on Node 20) could not be stored at all (a RangeError, not a FerryError).
 *
 * Pieces below `MIN_PIECE` are gathered until they reach it, so a stream of tiny writes does
 * not become millions of Buffers.
 */
const MIN_PIECE = 64 * 1024;

export class StoredBytes {
  /** The pieces, and the offset each starts at (ascending; `starts[0]` is 0). */
  readonly #pieces: readonly Buffer[];
  readonly #starts: readonly number[];
  readonly length: number;

  private constructor(pieces: Buffer[], length: number) {
    this.#pieces = pieces;
    const starts: number[] = [];
    let at = 0;
    for (const piece of pieces) {
      starts.push(at);
      at += piece.length;
    }
    this.#starts = starts;
    this.length = length;
  }

  /** Gathers copies of a body's pieces (the producer may reuse its buffers). */
  static builder(): { add(chunk: Uint8Array): void; done(): StoredBytes } {
    const pieces: Buffer[] = [];
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let total = 0;
    const flush = (): void => {
      if (pendingBytes === 0) return;
      pieces.push(pending.length === 1 ? pending[0] : Buffer.concat(pending, pendingBytes));
      pending = [];
      pendingBytes = 0;
    };
    return {
      add(chunk) {
        if (chunk.length === 0) return;
        const copy = Buffer.from(chunk);
        total += copy.length;
        pending.push(copy);
        pendingBytes += copy.length;
        if (pendingBytes >= MIN_PIECE) flush();
      },
      done() {
        flush();
        return new StoredBytes(pieces, total);
      },
    };
  }

  /** The pieces in order (shared, not copied: callers only read them). */
  pieces(): readonly Buffer[] {
    return this.#pieces;
  }

  /** A fresh copy of bytes `[start, end)`, `end` clipped at the length. */
  copyOut(start: number, end: number): Buffer {
    const stop = Math.min(end, this.length);
    if (stop <= start) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(stop - start);
    let i = this.#pieceAt(start);
    let written = 0;
    while (written < out.length) {
      const piece = this.#pieces[i];
      const from = start + written - this.#starts[i];
      written += piece.copy(out, written, from, Math.min(piece.length, from + out.length - written));
      i++;
    }
    return out;
  }

  /** The index of the piece holding byte `offset` (binary search over the starts). */
  #pieceAt(offset: number): number {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.#starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
