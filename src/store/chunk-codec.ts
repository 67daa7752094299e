/**
 * How one chunk's bytes are encoded at rest and on the wire: zstd per chunk, or raw when
 * zstd would not pay. The chunk's name stays the SHA-256 of its plain bytes whatever the
 * encoding, and every decode is followed by that hash check by the caller.
 *
 * The object format at rest (a loose chunk object, or one entry of a pack):
 *
 *   offset size
 *   0      6    magic 89 46 52 59 43 0a ("\x89FRYC\n": not text, catches newline mangling)
 *   6      1    format version (1)
 *   7      1    header length in bytes (16 now; a reader skips what it does not know, so
 *               later fields can be added without a new version)
 *   8      1    codec: 0 raw, 1 zstd (one frame with its content size)
 *   9      1    flags (none yet; a reader refuses flags it does not know)
 *   10     2    reserved, 0
 *   12     4    plain size, u32 big-endian
 *   16     ...  payload
 *
 * Objects written before this format (data directories of older servers) are the plain
 * bytes with no header: {@link decodeChunkObject} reads both. No encryption here: a
 * backend decorator below the chunk store encrypts whatever bytes this writes.
 *
 * zstd goes through zstd-napi's binding directly (Node 20's zlib has no zstd): one
 * compression context reused for every chunk, compressing into a buffer the caller
 * reuses, and decompressing into a buffer of the known plain size, so a frame that
 * claims or produces more than the chunk's size fails instead of allocating.
 */
// The binding is CommonJS assigned to module.exports: only its default import has the names.
import { createRequire } from 'node:module';
import type ZstdBinding from 'zstd-napi/binding.js';
import { ChunkCorruptError, ValidationError } from '../core/errors.js';

export const CHUNK_MAGIC = Buffer.from([0x89, 0x46, 0x52, 0x59, 0x43, 0x0a]);
export const CHUNK_FORMAT_VERSION = 1;
export const CHUNK_HEADER_BYTES = 16;

export const enum ChunkCodec {
  Raw = 0,
  Zstd = 1,
}

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

/** The header of a chunk object. */
export function chunkHeader(codec: ChunkCodec, plainSize: number): Buffer {
  const h = Buffer.alloc(CHUNK_HEADER_BYTES);
  CHUNK_MAGIC.copy(h, 0);
  h[6] = CHUNK_FORMAT_VERSION;
  h[7] = CHUNK_HEADER_BYTES;
  h[8] = codec;
  h.writeUInt32BE(plainSize, 12);
  return h;
}

export interface ParsedHeader {
  codec: ChunkCodec;
  plainSize: number;
  headerBytes: number;
}

/** The header at the start of `buf`, or undefined when `buf` does not start with one (an object written before the format). */
export function parseChunkHeader(buf: Uint8Array): ParsedHeader | undefined {
  if (buf.length < CHUNK_HEADER_BYTES) return undefined;
  for (let i = 0; i < CHUNK_MAGIC.length; i++) if (buf[i] !== CHUNK_MAGIC[i]) return undefined;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const version = view[6];
  const headerBytes = view[7];
  const codec = view[8];
  const flags = view[9];
  if (version !== CHUNK_FORMAT_VERSION || headerBytes < CHUNK_HEADER_BYTES || headerBytes > buf.length || flags !== 0 || view[10] !== 0 || view[11] !== 0) return undefined;
  if (codec !== ChunkCodec.Raw && codec !== ChunkCodec.Zstd) return undefined;
  return { codec, plainSize: view.readUInt32BE(12), headerBytes };
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

/**
 * The plain bytes of a chunk object (as read from the store) of a chunk of `size` bytes:
 * a framed object's payload decoded, or an old headerless object as it is. The caller
 * verifies the hash; an old raw object that happens to start like a header fails that
 * check, and the chunk store then tries it as plain bytes.
 */
export function decodeChunkObject(obj: Buffer, size: number, into?: Buffer): Buffer {
  const h = parseChunkHeader(obj);
  if (!h) {
    if (obj.length !== size) throw new ChunkCorruptError(`a chunk object of ${obj.length} bytes for a chunk of ${size}`);
    return obj;
  }
  if (h.plainSize !== size) throw new ChunkCorruptError(`a chunk object for ${h.plainSize} bytes, not ${size}`);
  const payload = obj.subarray(h.headerBytes);
  if (h.codec === ChunkCodec.Raw) {
    if (payload.length !== size) throw new ChunkCorruptError(`a raw chunk object with ${payload.length} bytes of payload, not ${size}`);
    return payload;
  }
  try {
    return decompressChunk(payload, size, into);
  } catch (err) {
    throw new ChunkCorruptError(`a compressed chunk object failed to decode: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Encodes a chunk for storage: header plus zstd frame when that pays, else header plus the
 * plain bytes. `frame` is a zstd frame of the same bytes already made (by the client, sent
 * on the wire and verified): kept as it is, so the server does not compress again.
 */
export function encodeChunkObject(plain: Uint8Array, frame?: Uint8Array): Buffer[] {
  const z = frame ?? compressChunk(plain);
  if (z && z.length < plain.length) return [chunkHeader(ChunkCodec.Zstd, plain.length), Buffer.from(z.buffer, z.byteOffset, z.length)];
  return [chunkHeader(ChunkCodec.Raw, plain.length), Buffer.from(plain.buffer, plain.byteOffset, plain.length)];
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

/** Most bytes a stored object of a `size`-byte chunk can have (header plus raw payload): enough to read one whole. */
export function maxObjectBytes(size: number): number {
  return size + CHUNK_HEADER_BYTES;
}
