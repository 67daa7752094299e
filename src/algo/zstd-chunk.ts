/**
 * zstd for one chunk's bytes, the part both ends share: the Node client compresses chunk
 * bodies on the wire and the server stores them so (../store/chunk-codec.ts frames them at
 * rest). Here, below the client, so that the light SDK entry (`ferry/client`) reaches no
 * module of the store; the native binding loads on first use only.
 */
// The binding is CommonJS assigned to module.exports: only its default import has the names.
import { createRequire } from 'node:module';
import type ZstdBinding from 'zstd-napi/binding.js';
import { ValidationError } from '../core/errors.js';

/** Level used at rest and on the wire: zstd's default, 3 (level 1 saved little CPU and cost ratio on source trees). */
export const ZSTD_LEVEL = 3;

/** A compressed chunk is kept only if it saves at least this fraction (else raw: decoding is then a no-op). */
const MIN_SAVING = 1 / 32;
/**
 * Chunks at least this big are first tried on a sample (see {@link looksCompressible}).
 * It was 256 KiB: 10,000 random small files (1-64 KiB) then cost the server 1.1 s of
 * level-3 compression that saved nothing; a level-1 sample of a quarter costs a fifth.
 */
const SAMPLE_FROM = 16 * 1024;
const SAMPLE_BYTES = 32 * 1024;

let cctx: InstanceType<typeof ZstdBinding.CCtx> | undefined;
let dctx: InstanceType<typeof ZstdBinding.DCtx> | undefined;

/**
 * The native binding, loaded on first use: importing the library root (which reaches the
 * chunk store) must not load a native addon nobody calls (see test/backends/records-package).
 */
let binding: typeof ZstdBinding | undefined;
function zstd(): typeof ZstdBinding {
  return (binding ??= createRequire(import.meta.url)('zstd-napi/binding.js') as typeof ZstdBinding);
}

/**
 * Whether zstd is worth trying on `data`: small chunks always are (trying costs
 * microseconds); a bigger one is judged by a sample from its middle (32 KiB, a quarter of
 * chunks under 128 KiB) compressed at level 1 (about 30 µs for 32 KiB), so random or
 * already-compressed data (media, archives) costs almost nothing extra and is stored and
 * sent raw.
 */
export function looksCompressible(data: Uint8Array): boolean {
  if (data.length < SAMPLE_FROM) return true;
  const bytes = Math.min(SAMPLE_BYTES, data.length >> 2);
  const from = (data.length >> 1) - (bytes >> 1);
  const sample = data.subarray(from, from + bytes);
  const out = scratch(zstd().compressBound(bytes));
  const n = (cctx ??= new (zstd().CCtx)()).compress(out, sample, 1);
  return n < bytes * (1 - MIN_SAVING);
}

let scratchBuf: Buffer | undefined;
function scratch(n: number): Buffer {
  if (!scratchBuf || scratchBuf.length < n) scratchBuf = Buffer.allocUnsafe(Math.max(n, 64 * 1024));
  return scratchBuf;
}

/**
 * `data` as one zstd frame, or undefined when that would not save enough (the caller then
 * sends or stores it raw). The result is a fresh buffer of the frame's exact size.
 */
export function compressChunk(data: Uint8Array, level = ZSTD_LEVEL): Buffer | undefined {
  if (data.length === 0 || !looksCompressible(data)) return undefined;
  const out = scratch(zstd().compressBound(data.length));
  const n = (cctx ??= new (zstd().CCtx)()).compress(out, data, level);
  if (n > data.length * (1 - MIN_SAVING)) return undefined;
  return Buffer.from(out.subarray(0, n));
}

/**
 * The plain bytes of a zstd frame that must hold exactly `size` bytes: one frame that
 * states its content size, nothing after it. Decompressed into `into` when it is big
 * enough (a view of it is returned), else into a new buffer. Anything else, a damaged
 * frame included, throws FERRY_ERR_VALIDATION (the caller says whose bytes were bad).
 */
export function decompressChunk(frame: Uint8Array, size: number, into?: Buffer): Buffer {
  let declared: number | null;
  let frameBytes: number;
  try {
    declared = zstd().getFrameContentSize(frame);
    frameBytes = zstd().findFrameCompressedSize(frame);
  } catch (err) {
    throw new ValidationError(`not a zstd frame (${(err as Error).message})`, { cause: err });
  }
  if (declared !== size) throw new ValidationError(`the zstd frame holds ${declared ?? 'an unstated number of'} bytes, not ${size}`);
  if (frameBytes !== frame.length) throw new ValidationError(`${frame.length - frameBytes} bytes follow the zstd frame`);
  const out = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let n: number;
  try {
    n = (dctx ??= new (zstd().DCtx)()).decompress(out, frame);
  } catch (err) {
    throw new ValidationError(`the zstd frame is damaged (${(err as Error).message})`, { cause: err });
  }
  if (n !== size) throw new ValidationError(`the zstd frame decodes to ${n} bytes, not ${size}`);
  return out;
}

/** The content size a zstd frame states (undefined when it states none or is not a frame). */
export function zstdContentSize(frame: Uint8Array): number | undefined {
  try {
    return zstd().getFrameContentSize(frame) ?? undefined;
  } catch {
    return undefined;
  }
}

/** Whether a sample of a chunk (its first bytes) compresses enough to try the whole chunk. */
export function sampleCompresses(sample: Uint8Array): boolean {
  const n = Math.min(sample.length, SAMPLE_BYTES);
  const out = scratch(zstd().compressBound(n));
  return (cctx ??= new (zstd().CCtx)()).compress(out, sample.subarray(0, n), 1) < n * (1 - MIN_SAVING);
}

