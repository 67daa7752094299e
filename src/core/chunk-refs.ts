/**
 * Chunks, chunk lists and the chunking parameters: the part of core/manifest.ts that needs
 * nothing of Node.js, so that the browser build of the client uses the very same code.
 * (The file hash is defined in manifest.ts; in browsers the client computes it with Web
 * Crypto, src/client/hashing.ts.)
 */
import { HashInvalidError, ValidationError } from './errors.js';

export interface ChunkRef {
  hash: string;
  size: number;
}

export interface ChunkingParams {
  /** Identifies the chunker, its gear table and mask layout; peers must agree on it to dedup. */
  algorithm: 'fastcdc-v1';
  minSize: number;
  avgSize: number;
  maxSize: number;
  /** FastCDC normalization level (bits added/removed from the mask around the average). */
  normalization: number;
}

/**
 * Defaults: min 256 KiB / avg 1 MiB / max 4 MiB, without normalization. Normalized chunking
 * (FastCDC's NC1/NC2) narrows chunk sizes, but the cut rule then depends on the distance
 * from the chunk's start, so after an edit the two cut sequences can stay out of step for
 * several chunks. Measured here on 100 random 1 MiB edits (24 MiB files): NC2 re-sent 2.87
 * chunks on average (at most 3 in 75% of edits, worst 8), NC0 2.02 (96%, worst 4), with
 * fewer bytes. Delta transfer is what Ferry is for, so NC0.
 */
export const DEFAULT_CHUNKING: ChunkingParams = Object.freeze({
  algorithm: 'fastcdc-v1',
  minSize: 256 * 1024,
  avgSize: 1024 * 1024,
  maxSize: 4 * 1024 * 1024,
  normalization: 0,
});

export const FILE_HASH_ALGORITHM = 'sha256-tree-v1';
/** The hash of an empty file: SHA-256 of zero chunk hashes (of no bytes at all). */
export const EMPTY_FILE_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const HEX64 = /^[0-9a-f]{64}$/;

export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && HEX64.test(value);
}

export function assertSha256Hex(value: unknown, what = 'hash'): string {
  if (!isSha256Hex(value)) {
    throw new HashInvalidError(`${what} ${JSON.stringify(String(value).slice(0, 80))} is not a SHA-256 hash (64 lowercase hex digits)`);
  }
  return value;
}

/** Validates a chunk list from the wire: hashes, integer sizes within bounds. Returns the total size. */
export function validateChunkList(chunks: unknown, maxChunkSize: number, what = 'chunks'): number {
  if (!Array.isArray(chunks)) throw new ValidationError(`${what} must be an array of {hash, size}`);
  let total = 0;
  for (let i = 0; i < chunks.length; i++) {
    const c = chunks[i] as Partial<ChunkRef> | null;
    if (c === null || typeof c !== 'object') throw new ValidationError(`${what}[${i}] must be an object {hash, size}`);
    assertSha256Hex(c.hash, `${what}[${i}].hash`);
    if (!Number.isSafeInteger(c.size) || (c.size as number) < 1 || (c.size as number) > maxChunkSize) {
      throw new ValidationError(`${what}[${i}].size must be an integer from 1 to ${maxChunkSize}`);
    }
    total += c.size as number;
  }
  return total;
}

/**
 * Entries a file's manifest may have beyond {@link FREE_CHUNK_ENTRIES}: one per this many of
 * its bytes, FastCDC's smallest `minSize` (a chunker's file never has more). Each entry costs
 * the metadata store a row and a download a chunk read, but only bytes count in a quota: a
 * 20,000-byte file of 20,000 one-byte entries grew the database by 9.9 MB and took 8.7 s to
 * download.
 */
export const MIN_BYTES_PER_CHUNK_ENTRY = 64;
/** Entries any file may have whatever its size (a test's few small pieces). */
export const FREE_CHUNK_ENTRIES = 16;

/** Refuses `entries` manifest entries for a file of `bytes` bytes past the bound above (FERRY_ERR_VALIDATION). */
export function checkChunkEntries(entries: number, bytes: number, what: string): void {
  const most = FREE_CHUNK_ENTRIES + Math.floor(bytes / MIN_BYTES_PER_CHUNK_ENTRY);
  if (entries > most) {
    throw new ValidationError(`${what}: ${entries} chunks for ${bytes} bytes; a file may have at most ${most} (${FREE_CHUNK_ENTRIES}, and one per ${MIN_BYTES_PER_CHUNK_ENTRY} bytes)`, {
      details: { entries, bytes, most },
    });
  }
}

/** Byte offset of every chunk in the file, plus the total at the end (length n+1). */
export function chunkOffsets(chunks: readonly ChunkRef[]): number[] {
  const out = new Array<number>(chunks.length + 1);
  let o = 0;
  for (let i = 0; i < chunks.length; i++) {
    out[i] = o;
    o += chunks[i].size;
  }
  out[chunks.length] = o;
  return out;
}

/** Index of the chunk holding byte `pos`, given {@link chunkOffsets} (binary search). */
export function chunkAt(offsets: readonly number[], pos: number): number {
  let lo = 0;
  let hi = offsets.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= pos) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
