/** The bench's input files: one big random file, a tree of small files, one file per concurrent client. */
import { randomFillSync } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { manyName } from '../tools/curl.js';

/** Writes `size` random bytes, 4 MiB at a time (never the whole file in memory). */
export async function writeRandomFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    const buf = Buffer.allocUnsafe(Math.min(4 << 20, Math.max(1, size)));
    for (let off = 0; off < size; ) {
      const n = Math.min(buf.length, size - off);
      randomFillSync(buf, 0, n);
      await fh.write(buf, 0, n, off);
      off += n;
    }
  } finally {
    await fh.close();
  }
}

/**
 * `size` bytes of JSON log lines with varying fields (a deterministic generator, so every
 * run has the same bytes): data zstd compresses several times over, as logs, source trees
 * and JSON exports do.
 */
export async function writeTextFile(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  let x = 12345;
  const next = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0);
  const words = ['GET', 'PUT', 'POST', 'DELETE', 'alpha', 'beta', 'gamma', 'delta', 'users', 'files', 'reports', 'images', 'ok', 'slow', 'retry'];
  try {
    for (let off = 0; off < size; ) {
      const lines: string[] = [];
      for (let i = 0; i < 20_000; i++) {
        const r = next();
        lines.push(
          JSON.stringify({ t: 1_764_000_000_000 + off + i, level: r % 7 === 0 ? 'warn' : 'info', method: words[r % 4], path: `/${words[4 + (r % 4)]}/${words[8 + ((r >>> 4) % 4)]}/${r % 1000}`, status: r % 11 === 0 ? 404 : 200, ms: r % 997, user: `u${(r >>> 8) % 50}`, note: words[12 + ((r >>> 12) % 3)] }),
        );
      }
      const buf = Buffer.from(lines.join('\n') + '\n');
      const n = Math.min(buf.length, size - off);
      await fh.write(buf, 0, n, off);
      off += n;
    }
  } finally {
    await fh.close();
  }
}

/** Overwrites `length` bytes at `offset` with random bytes: an in-place edit (size kept, mtime now). */
export async function scribble(path: string, offset: number, length: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(randomFillSync(Buffer.allocUnsafe(length)), 0, length, offset);
  } finally {
    await fh.close();
  }
}

/**
 * `files` random files spread over 100 directories, sizes spread evenly over
 * [minSize, maxSize] (a fixed stride, so every run has the same sizes). Returns the bytes.
 */
export async function makeTree(dir: string, files: number, minSize: number, maxSize: number): Promise<number> {
  let bytes = 0;
  const buf = Buffer.allocUnsafe(maxSize);
  const span = maxSize - minSize + 1;
  const dirs = Math.min(100, Math.max(1, files));
  for (let d = 0; d < dirs; d++) await mkdir(join(dir, `d${d}`), { recursive: true });
  for (let i = 0; i < files; i++) {
    const n = minSize + ((i * 7919) % span);
    randomFillSync(buf, 0, n);
    await writeFile(join(dir, `d${i % dirs}`, `f${i}.bin`), buf.subarray(0, n));
    bytes += n;
  }
  return bytes;
}

/** One random file per concurrent client; returns their paths. */
export async function makeMany(dir: string, clients: number, size: number): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (let i = 0; i < clients; i++) {
    const p = join(dir, manyName(i));
    await writeRandomFile(p, size);
    paths.push(p);
  }
  return paths;
}
