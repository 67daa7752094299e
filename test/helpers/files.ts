/** Temporary directories and files of random content for the suites. */
import { createCipheriv, randomFillSync, createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkBuffer } from '../../src/algo/file-hash.js';
import type { ChunkingParams } from '../../src/core/manifest.js';

/** A fresh temporary directory; `cleanup()` removes it. `inRam`: on a RAM file system where there is one (see {@link RAM_DIR}). */
export async function tempDir(prefix = 'ferry-test-', inRam = false): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(inRam ? RAM_DIR : tmpdir(), prefix));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

/**
 * Where a suite whose subject is not the disk keeps its servers' and files' bytes: /dev/shm
 * (a RAM file system) where there is one, else the system's temporary directory. On the
 * shared disk of a busy CI machine each fsync waits its turn: a test server in
 * test/client/transfer.test.ts took 0.1-0.4 s to close after a 1 MiB put (its stores
 * syncing), 0.01 s on /dev/shm.
 */
export const RAM_DIR = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();

/** Writes `size` random bytes to `path` (in blocks: never the whole file in memory). */
export { writeRandomFile } from '../../benchmarks/lib/data.js';

/**
 * Reproducible pseudo-random bytes: AES-128-CTR keystream keyed by `seed`, starting at byte
 * `offset` of that stream. Same seed, same bytes, on every machine.
 */
export function seededBytes(seed: string, length: number, offset = 0): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  const skip = offset % 16;
  const out = createCipheriv('aes-128-ctr', key, iv).update(Buffer.alloc(length + skip));
  return out.subarray(skip);
}

/**
 * Distinct chunks of `after` that `before` does not have, with the server's parameters:
 * exactly what an optimal client must transfer (their count, bytes and sizes). How many that
 * is depends on the data (see DEFAULT_CHUNKING in src/core/chunk-refs.ts for the measured
 * distribution), so the suites check "exactly the changed chunks" on random data, and bounds
 * such as "at most 3" only on fixed, seeded cases.
 */
export function changedChunks(before: Buffer, after: Buffer, params: ChunkingParams): { count: number; bytes: number; sizes: number[] } {
  const old = new Set(chunkBuffer(before, params).map((c) => c.hash));
  const seen = new Set<string>();
  const sizes: number[] = [];
  for (const c of chunkBuffer(after, params)) {
    if (old.has(c.hash) || seen.has(c.hash)) continue;
    seen.add(c.hash);
    sizes.push(c.size);
  }
  return { count: seen.size, bytes: sizes.reduce((a, b) => a + b, 0), sizes };
}

/** Overwrites `length` bytes at `offset` with random bytes (same size: an in-place edit). */
export async function scribble(path: string, offset: number, length: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const buf = randomFillSync(Buffer.allocUnsafe(length));
    await fh.write(buf, 0, length, offset);
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a file's bytes, streamed. */
export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const piece of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(piece as Buffer);
  return h.digest('hex');
}

/** Names that break naive code: unicode (NFC and NFD), spaces, quotes, `#`, `?`, `%`, a leading dash. */
export const NASTY_NAMES = [
  'plain.txt',
  'with space.txt',
  'ünïcødé-ñ.txt',
  'nfd-cafe\u0301.txt',
  '日本語のファイル.bin',
  'emoji-🚀.dat',
  "single'quote.txt",
  'double"quote.txt',
  'hash#tag.txt',
  'question?.txt',
  'percent%20encoded.txt',
  'amp&and=eq.txt',
  '-leading-dash',
  'back\\slash',
  ' leading and trailing space ',
  'semi;colon',
  'brackets[1](2){3}',
  '.hidden',
  '..double-dot-prefix',
];
