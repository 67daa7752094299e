/**
 * Chunks a byte stream of unknown size (stdin, a request body) in the calling thread, with
 * the same cuts `chunkFile` makes on the same bytes, and hands out each chunk's bytes.
 */
import { hash } from 'node:crypto';
import { ValidationError, throwIfAborted } from '../core/errors.js';
import type { ChunkingParams } from '../core/manifest.js';
import { CdcKernel, cdcParamsOf } from './cdc-kernel.js';
import { sha256Workers } from './sha256-workers.js';

export interface StreamChunk {
  /** SHA-256 of `data`, 64 lowercase hex digits. */
  hash: string;
  size: number;
  /** The chunk's bytes: in a Buffer of its own (the caller may keep it), or from `buffers` (see release). */
  data: Buffer;
  /** With ChunkStreamOptions.buffers: gives `data`'s buffer back; call it once nothing reads `data` any more. */
  release?: () => void;
}

/** Reusable buffers (a server's pool of shared memory: ../store/chunk-buffers.ts is one). */
export interface ChunkBufferPool {
  /** A buffer of at least `size` bytes, or undefined when none is free. */
  acquire(size: number): Buffer | undefined;
  release(buf: Buffer): void;
}

export interface ChunkStreamOptions {
  /** Checked between pieces of the source; aborting makes the iteration throw FERRY_ERR_ABORTED. */
  signal?: AbortSignal;
  /**
   * Chunk bytes go into these buffers instead of new ones, and chunks carry `release()`.
   * A server streaming a GiB through here otherwise makes a GiB of buffers that live a few
   * milliseconds each, for the collector. Buffers in shared memory are hashed by the
   * worker threads (./sha256-workers.ts) while this thread goes on with other work (the
   * network, say); when the pool has none free, a chunk gets a buffer of its own.
   */
  buffers?: ChunkBufferPool;
}

/**
 * Room beyond maxSize in the data area. Each time the area fills up, the unfinished chunk
 * (just under maxSize on average: cutting stops once less than maxSize remains) moves to
 * the front, so the room decides how many bytes move per byte taken in: with 1 MiB of room
 * and the default 4 MiB max, 1.5 bytes (10–15% slower); with room = maxSize, 0.6.
 */
function streamRoom(maxSize: number): number {
  return Math.max(1024 * 1024, maxSize);
}

/** Bytes of the data area {@link chunkStream} cuts in: a stream of N bytes touches at most min(N, this) of it. */
export function chunkAreaSize(params: ChunkingParams): number {
  return params.maxSize + streamRoom(params.maxSize);
}

/**
 * Kernels kept for the next stream, per chunking parameters. A kernel's data area is
 * WebAssembly memory, and V8 answers each new WebAssembly.Memory (it reserves address space
 * for it) with garbage collection: a WebDAV client putting small files one request each
 * spent half the server's CPU in the collector (200 PUTs: 6.5 s of GC) until kernels were
 * reused. A few stay (the data area is ~2 × maxSize each); beyond that they are dropped.
 */
const KEPT_KERNELS = 4;
const idleKernels = new Map<string, CdcKernel[]>();

function takeKernel(params: ChunkingParams): CdcKernel {
  const kept = idleKernels.get(paramsKey(params))?.pop();
  return kept ?? new CdcKernel(cdcParamsOf(params), chunkAreaSize(params));
}

function giveBackKernel(params: ChunkingParams, kernel: CdcKernel): void {
  const key = paramsKey(params);
  let list = idleKernels.get(key);
  if (!list) idleKernels.set(key, (list = []));
  if (list.length < KEPT_KERNELS) list.push(kernel);
}

const paramsKey = (p: ChunkingParams): string => `${p.algorithm}/${p.minSize}/${p.avgSize}/${p.maxSize}/${p.normalization}`;

/**
 * The chunker of {@link chunkStream} as an object fed piece by piece, for callers that
 * stop before the end of the data and go on later (a tus upload receives a file in many
 * requests, maybe across server restarts). Cuts depend only on the bytes since the last
 * cut, so a new StreamChunker fed the unfinished bytes ({@link rest}) of an earlier one and
 * then what follows cuts exactly where the earlier one would have. The unfinished part is
 * always shorter than maxSize.
 */
export class StreamChunker {
  private kernel: CdcKernel;
  private readonly data: Uint8Array;
  // data[start, filled) is the unfinished part of the stream.
  private start = 0;
  private filled = 0;
  private released = false;

  constructor(private readonly params: ChunkingParams) {
    this.kernel = takeKernel(params);
    this.data = this.kernel.data;
  }

  /**
   * Gives the chunker's memory back for the next stream (take {@link rest} first if it is
   * needed). The chunker must not be used afterwards. Idempotent; a chunker never released
   * is simply collected.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    giveBackKernel(this.params, this.kernel);
  }

  /** Bytes taken in and not yet part of a chunk. */
  get pending(): number {
    return this.filled - this.start;
  }

  /** Takes in `piece` and yields the chunks it completes (take each before asking for the next). */
  *push(piece: Uint8Array): Generator<StreamChunk> {
    const data = this.data;
    const capacity = data.length;
    let used = 0;
    while (used < piece.length) {
      if (this.filled === capacity) {
        // Only when full: moving on every piece would copy up to maxSize per small piece.
        data.copyWithin(0, this.start, this.filled);
        this.filled -= this.start;
        this.start = 0;
      }
      const n = Math.min(piece.length - used, capacity - this.filled);
      data.set(piece.subarray(used, used + n), this.filled);
      this.filled += n;
      used += n;
      for (let len = this.kernel.cut(this.start, this.filled, false); len > 0; len = this.kernel.cut(this.start, this.filled, false)) {
        yield this.take(len);
      }
    }
  }

  /** The end of the data: yields the last chunks (the unfinished bytes, cut as a file's end is). */
  *finish(): Generator<StreamChunk> {
    while (this.start < this.filled) yield this.take(this.kernel.cut(this.start, this.filled, true));
  }

  /** A copy of the unfinished bytes (what a later StreamChunker must be fed first to go on). */
  rest(): Buffer {
    return Buffer.from(this.data.subarray(this.start, this.filled));
  }

  private take(len: number): StreamChunk {
    // A chunk of its own (not a pool slice, not a view of the data area, which is reused).
    const out = Buffer.allocUnsafeSlow(len);
    out.set(this.data.subarray(this.start, this.start + len));
    this.start += len;
    return { hash: hash('sha256', out, 'hex'), size: len, data: out };
  }
}

/**
 * The chunks of `source`, in order, covering it exactly (an empty source yields nothing).
 * Memory: one data area of 2 × maxSize (at least maxSize + 1 MiB), plus the chunks the
 * caller keeps and the piece of the source being consumed. The source's pieces may have any size; the source
 * is iterated once and may be ended early by the caller breaking out of the loop. A string
 * piece is chunked as its UTF-8; any other non-bytes piece fails with FERRY_ERR_VALIDATION.
 */
export async function* chunkStream(
  source: AsyncIterable<Uint8Array>,
  params: ChunkingParams,
  options: ChunkStreamOptions = {},
): AsyncGenerator<StreamChunk> {
  const { signal } = options;
  throwIfAborted(signal);
  const kernel = takeKernel(params);
  try {
    yield* chunkWith(kernel, source, options);
  } finally {
    giveBackKernel(params, kernel);
  }
}

/**
 * A piece of the source as bytes. Text (a Readable with `setEncoding`, `Readable.from(['…'])`)
 * is its UTF-8, as the backends' `write` takes it; anything else is refused: a number has no
 * `length`, and was read as no bytes at all, so the upload succeeded with an empty file.
 */
function bytesOf(piece: unknown): Uint8Array {
  if (piece instanceof Uint8Array) return piece;
  if (typeof piece === 'string') return Buffer.from(piece, 'utf8');
  throw new ValidationError(`the stream yielded a ${piece === null ? 'null' : typeof piece}, not bytes or text`);
}

async function* chunkWith(kernel: CdcKernel, source: AsyncIterable<Uint8Array>, options: ChunkStreamOptions): AsyncGenerator<StreamChunk> {
  const { signal, buffers } = options;
  const data = kernel.data;
  const capacity = data.length;
  // data[start, filled) is the unfinished part of the stream.
  let start = 0;
  let filled = 0;

  const take = async (len: number): Promise<StreamChunk> => {
    const pooled = buffers?.acquire(len + 7);
    // A chunk of its own, or of the pool (never a view of the data area, which is reused).
    // The pool's buffers are shared memory, which V8 copies to and from with relaxed atomics:
    // a word at a time when source and target addresses agree modulo 8, else byte by byte
    // (measured here, 1 GiB in 1 MiB pieces: 490 ms against 45). Chunks start anywhere in
    // the data area, so each is placed at the offset of its pooled buffer that agrees.
    const skew = pooled ? (data.byteOffset + start - pooled.byteOffset) & 7 : 0;
    const out = pooled ? pooled.subarray(skew, skew + len) : Buffer.allocUnsafeSlow(len);
    out.set(data.subarray(start, start + len));
    start += len;
    if (!pooled) return { hash: hash('sha256', out, 'hex'), size: len, data: out };
    let given = false;
    const release = () => {
      if (given) return;
      given = true;
      buffers!.release(pooled);
    };
    try {
      return { hash: await sha256Workers.digest(out), size: len, data: out, release };
    } catch (err) {
      release();
      throw err;
    }
  };

  for await (const raw of source) {
    throwIfAborted(signal);
    const piece = bytesOf(raw as unknown);
    let used = 0;
    while (used < piece.length) {
      if (filled === capacity) {
        // Only when full: moving on every piece would copy up to maxSize per small piece.
        data.copyWithin(0, start, filled);
        filled -= start;
        start = 0;
      }
      const n = Math.min(piece.length - used, capacity - filled);
      data.set(piece.subarray(used, used + n), filled);
      filled += n;
      used += n;
      for (let len = kernel.cut(start, filled, false); len > 0; len = kernel.cut(start, filled, false)) {
        yield await take(len);
        throwIfAborted(signal);
      }
    }
  }
  throwIfAborted(signal);
  while (start < filled) yield await take(kernel.cut(start, filled, true));
}
