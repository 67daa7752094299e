/**
 * Deltas between two versions of a chunk, so that an edit scattered over a large file
 * costs kilobytes rather than whole ~1 MiB chunks (issue 15).
 *
 * The side that holds the *base* (the chunk being replaced) describes it by a signature:
 * the base cut again with a much finer content-defined chunker (FastCDC, about 4 KiB
 * average) and each piece named by the first 8 bytes of its SHA-256. The side that holds
 * the *target* cuts it the same way and sends, for each piece, a copy from the base when
 * the base has a piece with that name and size, else the bytes. Because the cuts are
 * content-defined, an insertion or deletion moves no cut outside the pieces it touches
 * (rsync's rolling search buys the same for arbitrary offsets, at far more CPU). The
 * receiver rebuilds the target and checks it against the chunk's full SHA-256, so a
 * truncated-name collision can only cost a retry with the whole chunk, never bad data.
 *
 * Formats (all integers unsigned big-endian):
 *   signature: u32 count, then per piece: u32 size, 8 bytes of SHA-256
 *   delta:     ops back to back: 0x01 u32 offset u32 length (copy from the base),
 *              0x02 u32 length, bytes (literal)
 */
import { hash } from 'node:crypto';
import { CdcKernel } from './cdc-kernel.js';
import type { CdcParams } from './fastcdc.js';

/** The finer chunker: small pieces make small deltas; 4 KiB keeps a 1 MiB chunk's signature near 3 KiB. */
export const DELTA_CDC: CdcParams = { minSize: 1024, avgSize: 4096, maxSize: 16384, normalization: 1 };

const ENTRY_BYTES = 12;
const OP_COPY = 1;
const OP_LITERAL = 2;

/** A malformed signature or delta (the caller turns it into its own error). */
export class DeltaFormatError extends Error {}

// Node 20.12+'s one-shot `crypto.hash`: a piece is ~4 KiB, so the Hash object that
// createHash builds per piece was a fifth of a signature's time (51 against 61 ms for 60 MB).
/** The SHA-256 of a piece; its first 8 bytes are the piece's name. */
function pieceDigest(data: Uint8Array, at: number, size: number): Buffer {
  return hash('sha256', data.subarray(at, at + size), 'buffer');
}

/** Bytes of the window the pieces are cut in: the kernel is this small whatever the chunk size. */
const WINDOW = 256 * 1024;
let kernel: CdcKernel | undefined;

/**
 * The piece lengths of `data`: `chunkLengths(data, DELTA_CDC)` (fastcdc.ts), cut by the
 * WebAssembly kernel (cdc-kernel.ts) in windows of {@link WINDOW} bytes, since a chunk
 * lives outside the kernel's memory. Same cuts as the JavaScript loop (chunk-delta.test.ts),
 * at 24 ms instead of 59 for 60 MB of an npm tree's tar here; the copy into the window is
 * part of the 24.
 */
export function pieceLengths(data: Uint8Array): number[] {
  kernel ??= new CdcKernel(DELTA_CDC, WINDOW);
  const out: number[] = [];
  let base = 0;
  while (base < data.length) {
    const load = Math.min(WINDOW, data.length - base);
    kernel.data.set(data.subarray(base, base + load));
    const final = base + load === data.length;
    let pos = 0;
    for (;;) {
      // 0: fewer than maxSize bytes left in a window that is not the last; the next one starts here.
      const n = kernel.cut(pos, load, final);
      if (n === 0) break;
      out.push(n);
      pos += n;
      if (pos === load) break;
    }
    base += pos;
  }
  return out;
}

/** The signature of a base chunk. */
export function signatureOf(base: Uint8Array): Buffer {
  const lengths = pieceLengths(base);
  const out = Buffer.allocUnsafe(4 + lengths.length * ENTRY_BYTES);
  out.writeUInt32BE(lengths.length, 0);
  let at = 0;
  let o = 4;
  for (const n of lengths) {
    out.writeUInt32BE(n, o);
    pieceDigest(base, at, n).copy(out, o + 4, 0, 8);
    at += n;
    o += ENTRY_BYTES;
  }
  return out;
}

/**
 * The signature of several bases taken as one, in the order given (their bytes back to
 * back): what a delta against a chunk that replaced several neighbours copies from.
 */
export function joinSignatures(sigs: readonly Uint8Array[]): Buffer {
  let count = 0;
  for (const sig of sigs) {
    if (sig.length < 4) throw new DeltaFormatError('a signature starts with its count');
    const n = Buffer.from(sig.buffer, sig.byteOffset, sig.length).readUInt32BE(0);
    if (sig.length !== 4 + n * ENTRY_BYTES) throw new DeltaFormatError(`a signature of ${n} pieces has ${sig.length} bytes`);
    count += n;
  }
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(count, 0);
  return Buffer.concat([head, ...sigs.map((sig) => sig.subarray(4))]);
}

/**
 * Where each piece of a signature lies in the base, by name and size. Looked up by the
 * first 6 bytes of a name as a number, the last 2 and the size compared after: a lookup
 * by string (the size and the 8 bytes) was a third of a delta's time besides the cuts and
 * the hashes (44 of 151 ms for 60 MB of an npm tree's tar). Two pieces whose names share 6
 * bytes and no more (about one pair in 10^8 in a 2 MiB chunk) make the second a literal.
 */
interface SignatureIndex {
  byName: Map<number, number>;
  /** Per piece: where it starts in the base, its size, the last 2 bytes of its name. */
  at: number[];
  size: number[];
  tail: number[];
}

function indexSignature(sig: Uint8Array, maxBase: number): SignatureIndex {
  const view = Buffer.from(sig.buffer, sig.byteOffset, sig.length);
  if (view.length < 4) throw new DeltaFormatError('a signature starts with its count');
  const count = view.readUInt32BE(0);
  if (view.length !== 4 + count * ENTRY_BYTES) throw new DeltaFormatError(`a signature of ${count} pieces has ${view.length} bytes`);
  const index: SignatureIndex = { byName: new Map(), at: [], size: [], tail: [] };
  let at = 0;
  for (let i = 0, o = 4; i < count; i++, o += ENTRY_BYTES) {
    const size = view.readUInt32BE(o);
    const name = view.readUIntBE(o + 4, 6);
    const tail = view.readUInt16BE(o + 10);
    // The first piece of a name is the one copied from (as the string index did); a later
    // one whose name shares only the 6 bytes is not indexed.
    if (!index.byName.has(name)) {
      index.byName.set(name, index.at.length);
      index.at.push(at);
      index.size.push(size);
      index.tail.push(tail);
    }
    at += size;
    if (at > maxBase) throw new DeltaFormatError(`a signature describes more than ${maxBase} bytes`);
  }
  return index;
}

/** Where the piece of `size` bytes whose SHA-256 is `digest` lies in the base, or -1. */
function lookUp(index: SignatureIndex, digest: Buffer, size: number): number {
  const i = index.byName.get(digest.readUIntBE(0, 6));
  return i !== undefined && index.size[i] === size && index.tail[i] === digest.readUInt16BE(6) ? index.at[i] : -1;
}

/**
 * The delta that rebuilds `target` from the base a signature describes, and how many of its
 * bytes are literal. Adjacent copies and adjacent literals are merged.
 */
export function makeDelta(target: Uint8Array, signature: Uint8Array, maxBase: number): { delta: Buffer; literal: number } {
  const index = indexSignature(signature, maxBase);
  const ops: Buffer[] = [];
  let literal = 0;
  let copyFrom = -1;
  let copyLen = 0;
  let litFrom = -1;
  let litLen = 0;
  const flushCopy = (): void => {
    if (copyLen === 0) return;
    const op = Buffer.allocUnsafe(9);
    op[0] = OP_COPY;
    op.writeUInt32BE(copyFrom, 1);
    op.writeUInt32BE(copyLen, 5);
    ops.push(op);
    copyLen = 0;
  };
  const flushLiteral = (): void => {
    if (litLen === 0) return;
    const op = Buffer.allocUnsafe(5);
    op[0] = OP_LITERAL;
    op.writeUInt32BE(litLen, 1);
    ops.push(op, Buffer.from(target.buffer, target.byteOffset + litFrom, litLen));
    literal += litLen;
    litLen = 0;
  };
  let at = 0;
  for (const n of pieceLengths(target)) {
    const from = lookUp(index, pieceDigest(target, at, n), n);
    if (from >= 0) {
      flushLiteral();
      if (copyLen > 0 && copyFrom + copyLen === from) copyLen += n;
      else {
        flushCopy();
        copyFrom = from;
        copyLen = n;
      }
    } else {
      flushCopy();
      if (litLen === 0) litFrom = at;
      litLen += n;
    }
    at += n;
  }
  flushCopy();
  flushLiteral();
  return { delta: Buffer.concat(ops), literal };
}

/** Copies `len` bytes at `from` of the bases taken back to back into `out` at `o` (a copy may span two). */
function copyFromBases(bases: readonly Uint8Array[], from: number, len: number, out: Buffer, o: number): void {
  let start = 0;
  for (const b of bases) {
    if (len === 0) return;
    const end = start + b.length;
    if (from < end) {
      const n = Math.min(len, end - from);
      out.set(b.subarray(from - start, from - start + n), o);
      o += n;
      from += n;
      len -= n;
    }
    start = end;
  }
}

/**
 * The target rebuilt from `base` (one chunk, or several taken back to back, as
 * {@link joinSignatures} describes them) and a delta; it must come to exactly `size` bytes.
 * Every copy is checked against the bases' bounds. The caller verifies the result's hash.
 * Rebuilt in `into` when it is big enough (a view of it is returned), else in a new buffer.
 */
export function applyDelta(base: Uint8Array | readonly Uint8Array[], delta: Uint8Array, size: number, into?: Buffer): Buffer {
  const bases = base instanceof Uint8Array ? [base] : base;
  let baseLength = 0;
  for (const b of bases) baseLength += b.length;
  const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  const d = Buffer.from(delta.buffer, delta.byteOffset, delta.length);
  let o = 0;
  let i = 0;
  while (i < d.length) {
    const op = d[i];
    if (op === OP_COPY) {
      if (i + 9 > d.length) throw new DeltaFormatError('a copy op is cut short');
      const from = d.readUInt32BE(i + 1);
      const len = d.readUInt32BE(i + 5);
      if (len === 0 || from + len > baseLength) throw new DeltaFormatError(`a copy of ${len} bytes at ${from} reaches past the base (${baseLength} bytes)`);
      if (o + len > size) throw new DeltaFormatError(`the delta builds more than ${size} bytes`);
      copyFromBases(bases, from, len, out, o);
      o += len;
      i += 9;
    } else if (op === OP_LITERAL) {
      if (i + 5 > d.length) throw new DeltaFormatError('a literal op is cut short');
      const len = d.readUInt32BE(i + 1);
      if (len === 0 || i + 5 + len > d.length) throw new DeltaFormatError('a literal reaches past the end of the delta');
      if (o + len > size) throw new DeltaFormatError(`the delta builds more than ${size} bytes`);
      d.copy(out, o, i + 5, i + 5 + len);
      o += len;
      i += 5 + len;
    } else {
      throw new DeltaFormatError(`unknown delta op ${op}`);
    }
  }
  if (o !== size) throw new DeltaFormatError(`the delta builds ${o} bytes, not ${size}`);
  return out;
}
