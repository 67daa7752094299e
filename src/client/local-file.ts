/** Local file helpers of the transfer engine: positional I/O, tree walking, atomic finish. */
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, opendir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PreconditionFailedError, fromSystemError, throwIfAborted } from '../core/errors.js';

/** Reads exactly `size` bytes at `offset` (positional: many reads may share the handle), into `into` when given (a view of it is returned). */
export async function readAt(fh: FileHandle, offset: number, size: number, what: string, into?: Buffer): Promise<Buffer> {
  const buf = into ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  let n = 0;
  while (n < size) {
    const { bytesRead } = await fh.read(buf, n, size - n, offset + n);
    if (bytesRead === 0) throw new PreconditionFailedError(`${what} became shorter while it was being read; run again`);
    n += bytesRead;
  }
  return buf;
}

/**
 * Buffers for the chunks an upload reads back from its file, reused once a chunk is sent.
 *
 * Why: a fresh buffer per chunk (1-4 MiB, outside V8's heap) counts against the old
 * generation's external-memory limit, so `ferry put` of 256 MiB ran 14 mark-compacts, one
 * every ~20 MB read (`--trace-gc`; the "mark-compact trap" of
 * benchmarks/results/issue-15-speed.md). With the buffers kept, a whole upload allocates
 * about `parallel` of them. A buffer is taken back only when its chunk's request succeeded
 * ({@link give}); after a failure it is left to the collector, since a request that failed
 * may not yet have let go of it.
 */
export class ReadBuffers {
  private readonly free: Buffer[] = [];
  /** The memory of every buffer this pool made: nothing else is ever taken back. */
  private readonly own = new WeakSet<ArrayBufferLike>();

  /** `keep`: at most this many spare buffers are held. */
  constructor(private readonly keep: number) {}

  /** Exactly `size` bytes at `offset`, in a view of a reused buffer (or a new one). */
  async read(fh: FileHandle, offset: number, size: number, what: string): Promise<Buffer> {
    const i = this.free.findIndex((b) => b.length >= size);
    // Sizes rounded up to a power of two (from 64 KiB): chunks of one file fall in a few classes.
    let buf: Buffer;
    if (i >= 0) buf = this.free.splice(i, 1)[0];
    else {
      buf = Buffer.allocUnsafeSlow(2 ** Math.ceil(Math.log2(Math.max(size, 64 * 1024))));
      this.own.add(buf.buffer);
    }
    try {
      return await readAt(fh, offset, size, what, buf);
    } catch (err) {
      this.give(buf);
      throw err;
    }
  }

  /** Takes back the buffer under a view {@link read} returned; the view must no longer be used. */
  give(view: Uint8Array): void {
    if (this.free.length >= this.keep || !this.own.has(view.buffer)) return;
    if (this.free.some((b) => b.buffer === view.buffer)) return; // given twice
    this.free.push(Buffer.from(view.buffer, 0, view.buffer.byteLength));
  }

  /** Spare buffers held (tests). */
  get spare(): number {
    return this.free.length;
  }
}

// Positional writes in slices: shared with the server's local backend (../core/file-writes.ts).
export { WRITE_SLICE_BYTES, writeAt, writevAt } from '../core/file-writes.js';

/** Reads a whole small file (bounded by the caller: files below a chunk or two). */
export async function readSmallFile(path: string, maxBytes: number): Promise<Buffer> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(path, 'r');
    const st = await fh.stat();
    if (st.size > maxBytes) throw new PreconditionFailedError(`${path} grew while being read; run again`);
    const buf = Buffer.allocUnsafe(st.size);
    let n = 0;
    while (n < st.size) {
      const { bytesRead } = await fh.read(buf, n, st.size - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    return n === st.size ? buf : buf.subarray(0, n);
  } catch (err) {
    throw fromSystemError(err, path);
  } finally {
    await fh?.close();
  }
}

export interface LocalFile {
  /** Path on disk. */
  local: string;
  /** Path relative to the walked root, `/`-separated. */
  rel: string;
  size: number;
  mtimeMs: number;
  mode: number;
}

export interface LocalTree {
  files: LocalFile[];
  /** Directories (relative) with nothing in them: they must be created explicitly. */
  emptyDirs: string[];
  /** Every directory (relative), the root excluded. */
  dirs: string[];
}

/**
 * Walks a local directory. Symbolic links are not followed (like rclone without
 * `--links`/`-L`): each one is reported to `onSkip` and left out, as are sockets, FIFOs
 * and devices. The root itself may be a symlink to a directory (it was named explicitly).
 */
export async function walkLocalTree(root: string, onSkip: (path: string, reason: string) => void, signal?: AbortSignal): Promise<LocalTree> {
  const files: LocalFile[] = [];
  const emptyDirs: string[] = [];
  const dirs: string[] = [];
  const rootStat = await stat(root).catch((err) => {
    throw fromSystemError(err, root);
  });
  if (!rootStat.isDirectory()) throw fromSystemError(Object.assign(new Error('not a directory'), { code: 'ENOTDIR' }), root);
  const stack: Array<{ abs: string; rel: string }> = [{ abs: root, rel: '' }];
  while (stack.length > 0) {
    throwIfAborted(signal);
    const { abs, rel } = stack.pop()!;
    let count = 0;
    let dir;
    try {
      dir = await opendir(abs);
    } catch (err) {
      throw fromSystemError(err, abs);
    }
    const regular: Array<{ abs: string; rel: string }> = [];
    for await (const d of dir) {
      count++;
      const childAbs = join(abs, d.name);
      const childRel = rel ? `${rel}/${d.name}` : d.name;
      if (d.isSymbolicLink()) {
        onSkip(childAbs, 'symbolic link not followed');
      } else if (d.isDirectory()) {
        dirs.push(childRel);
        stack.push({ abs: childAbs, rel: childRel });
      } else if (d.isFile()) {
        regular.push({ abs: childAbs, rel: childRel });
      } else {
        onSkip(childAbs, 'not a regular file or directory');
      }
    }
    // lstat the files of a directory together: one at a time leaves the thread pool idle.
    for (let i = 0; i < regular.length; i += 64) {
      const stats = await Promise.all(
        regular.slice(i, i + 64).map(async (f) => {
          try {
            return { f, st: await lstat(f.abs) };
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined; // vanished since readdir
            throw fromSystemError(err, f.abs);
          }
        }),
      );
      for (const x of stats) {
        if (x) files.push({ local: x.f.abs, rel: x.f.rel, size: x.st.size, mtimeMs: Math.round(x.st.mtimeMs), mode: x.st.mode & 0o777 });
      }
    }
    if (count === 0 && rel !== '') emptyDirs.push(rel);
  }
  const byRel = (a: { rel: string } | string, b: { rel: string } | string) => {
    const x = typeof a === 'string' ? a : a.rel;
    const y = typeof b === 'string' ? b : b.rel;
    return x < y ? -1 : x > y ? 1 : 0;
  };
  files.sort(byRel);
  emptyDirs.sort(byRel);
  dirs.sort(byRel);
  return { files, emptyDirs, dirs };
}
